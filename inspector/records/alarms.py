"""Typed reads of the ``alarms`` table: the alarm history the recorder keeps, one row per raise and per clear.

The station's alarm state of the moment is the alarm board's (not ours:
:mod:`inspector.alarms.board_store`); this table is its history, written by
the recorder (:mod:`.store`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from inspector.errors import StoreError
from inspector.records.readonly import column_names, reading, rows_while_there


@dataclass(frozen=True)
class AlarmRecord:
    t: float
    source: str
    code: str
    severity: str
    text: str
    active: bool
    part_id: int | None
    kind: str = "condition"  # condition | event (inspector.alarms.catalogue)


class AlarmReads:
    """The station database's alarm queries (mixed into :class:`~.station.StationDatabase`, which gives ``_rows``)."""

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def alarms_with_prefix(self, prefix: str) -> list[AlarmRecord]:
        """Every alarm row whose code starts with ``prefix`` (raised and cleared), oldest first."""
        rows = self._rows("SELECT t, source, code, severity, text, active, part_id FROM alarms WHERE code LIKE ? ESCAPE '\\' "
                          "ORDER BY t", (prefix.replace("_", "\\_") + "%",))
        return [AlarmRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]


# -- one read, read-only --------------------------------------------------------------------------------------------
def alarm_rows(database: str | Path) -> list[sqlite3.Row]:
    """Every recorded alarm row (every column), oldest first; none while there is no database yet."""
    return rows_while_there(database, "SELECT * FROM alarms ORDER BY id")


def raised_codes(database: str | Path) -> list[str]:
    """The code of every row that raised an alarm (``active`` 1)."""
    return [r[0] for r in rows_while_there(database, "SELECT code FROM alarms WHERE active = 1")]


class AlarmRow(NamedTuple):
    id: int
    t: float
    source: str
    code: str
    severity: str
    active: int
    text: str | None
    kind: str | None  # None in a database from before alarm kinds were recorded


def alarm_history(database: str | Path) -> list[AlarmRow]:
    """Every alarm row in time order (the soak's accounting of raises and clears)."""
    if not Path(database).exists():
        return []
    try:
        with reading(database, 10) as conn:
            kind = ", kind" if "kind" in column_names(conn, "alarms") else ", NULL"
            rows = conn.execute(f"SELECT id, t, source, code, severity, active, text{kind} FROM alarms ORDER BY t, id").fetchall()
    except sqlite3.OperationalError:
        return []
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the station database {database}: {err}") from err
    return [AlarmRow(*r) for r in rows]


def alarm_row_counts(database: str | Path) -> dict[str, int]:
    """How many alarm rows raise (``active`` 1) and how many clear."""
    rows = rows_while_there(database, "SELECT coalesce(sum(active = 1), 0), coalesce(sum(active = 0), 0) FROM alarms", timeout_s=10)
    active, cleared = rows[0] if rows else (0, 0)
    return {"alarm_rows_active": active, "alarm_rows_cleared": cleared}

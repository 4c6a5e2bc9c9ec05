"""Reading the station database in the order its rows were made, read-only, following the file at its path.

What the publisher reads (:mod:`inspector.plant.recorder_tail` keeps its
reading positions): part rows by rowid, alarm rows by id, and the counts of a
recent window. Positions are rowids of one database file: when the recorder
replaces its database (a damaged one is moved aside and a fresh one started),
:class:`FollowedDatabase` opens the new file, and its :meth:`~FollowedDatabase.identity`
says the positions start again. A database whose tables the recorder has not
made yet reads as empty.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inspector.errors import StoreError
from inspector.records.readonly import open_readonly

KPI_COUNTS = ("inspected", "passed", "rejected", "failsafe")


class FollowedDatabase:
    """A read-only connection to the database file now at ``database`` (reopened when another file is there)."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self._conn: sqlite3.Connection | None = None
        self._conn_identity = 0

    def identity(self) -> int:
        """Which database file is at the path now (its inode; 0 while there is none)."""
        try:
            return self.database.stat().st_ino
        except FileNotFoundError:
            return 0

    def conn(self) -> sqlite3.Connection | None:
        """The connection to the file at the path now; None while there is none."""
        ident = self.identity()
        if self._conn is not None and ident != self._conn_identity:
            self.close()  # the recorder started a new database (a damaged one was moved aside): read the new one
        if self._conn is None:
            if not ident:
                return None
            try:
                self._conn = open_readonly(self.database, 5, rows=True, check_same_thread=False)
            except sqlite3.Error as err:
                raise StoreError(f"cannot open the recorder's database {self.database}: {err}") from err
            self._conn_identity = ident
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read(self, sql: str, args: tuple) -> list[sqlite3.Row] | None:
        """The rows; None when the table is not there yet."""
        conn = self.conn()
        if conn is None:
            return None
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as err:
            if "no such table" in str(err):
                return None
            raise StoreError(f"cannot read the recorder's database {self.database}: {err}") from err
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the recorder's database {self.database}: {err}") from err

    def parts_after(self, rowid: int, limit: int) -> list[sqlite3.Row]:
        """Part rows made after ``rowid`` (every column, and the rowid as ``row_key``), in the order they were made."""
        return self._read("SELECT rowid AS row_key, * FROM parts WHERE rowid > ? ORDER BY rowid LIMIT ?", (rowid, limit)) or []

    def alarms_after(self, alarm_id: int, limit: int) -> list[sqlite3.Row]:
        """Alarm rows after ``alarm_id`` (every column), in id order."""
        return self._read("SELECT * FROM alarms WHERE id > ? ORDER BY id LIMIT ?", (alarm_id, limit)) or []

    def window_counts(self, since: float) -> dict[str, int]:
        """Counts of the parts triggered since ``since`` (a range of the trigger-time index, never the whole table)."""
        rows = self._read(
            "SELECT count(*) AS inspected, coalesce(sum(result = 'PASS'), 0) AS passed, "
            "coalesce(sum(result = 'REJECT'), 0) AS rejected, coalesce(sum(result LIKE 'FAILSAFE%'), 0) AS failsafe "
            "FROM parts WHERE t_trigger >= ? AND result IS NOT NULL", (since,))
        if not rows:
            return dict.fromkeys(KPI_COUNTS, 0)
        return {k: int(rows[0][k]) for k in KPI_COUNTS}

"""One station's records of a period, read at once for a report: decided parts, people's marks, escapes, alarms."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import StoreError
from inspector.records.parts import REJECT_RESULTS
from inspector.records.readonly import open_readonly, table_names


@dataclass(frozen=True)
class PeriodRecords:
    """What the station recorded with a trigger time (an escape or an alarm: a time) in [start, end)."""

    station: str | None  # the station named on most of the database's parts (None: no part names one)
    parts: list[tuple[float, str, float | None, str]]  # (t_trigger, result, latency_ms, model_version or '') by time
    marks: list[tuple[float, str]]  # (t_trigger, mark) of marked rejects
    escapes: list[tuple[float, int]]  # (t, count)
    alarms: list[tuple[float, str, str]]  # (t, severity, code) of raised alarms


def read_period(database: str | Path, start: float, end: float) -> PeriodRecords:
    """Read ``database`` (read-only) for [start, end); :class:`StoreError` when it cannot be read or is not a
    recorder's database."""
    try:
        conn = open_readonly(database, 10)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open the station database {database}: {err}") from err
    try:
        tables = table_names(conn)
        if "parts" not in tables:
            raise StoreError(f"{database} is not a recorder database (it has no 'parts' table)")
        span = (start, end)
        parts = conn.execute(
            "SELECT t_trigger, result, latency_ms, coalesce(model_version, '') FROM parts "
            "WHERE result IS NOT NULL AND t_trigger >= ? AND t_trigger < ? ORDER BY t_trigger", span,
        ).fetchall()
        name_row = conn.execute("SELECT station, count(*) AS n FROM parts GROUP BY station ORDER BY n DESC LIMIT 1").fetchone()
        marks = conn.execute(
            f"SELECT t_trigger, mark FROM reject_marks WHERE t_trigger >= ? AND t_trigger < ? "
            f"AND result IN ({', '.join('?' * len(REJECT_RESULTS))})", (*span, *REJECT_RESULTS),
        ).fetchall() if "reject_marks" in tables else []
        escapes = conn.execute("SELECT t, count FROM report_escapes WHERE t >= ? AND t < ?", span).fetchall() \
            if "report_escapes" in tables else []
        alarms = conn.execute("SELECT t, severity, code FROM alarms WHERE t >= ? AND t < ? AND active = 1", span).fetchall() \
            if "alarms" in tables else []
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the station database {database}: {err}") from err
    finally:
        conn.close()
    return PeriodRecords(name_row[0] if name_row else None, parts, marks, escapes, [tuple(a) for a in alarms])

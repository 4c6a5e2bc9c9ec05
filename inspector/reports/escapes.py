"""Escapes: defective parts that passed the station and were found downstream (customer or audit).

They are imported from a downstream audit's CSV file with ``inspector report
escapes import FILE.csv`` into the station's database (table
``report_escapes``, :mod:`inspector.records.escapes`), so reports count them. Columns (a header row, names in
any order; only ``time`` is required):

``time``      when the part was made (or the audit date): ``2026-11-12 14:30`` or ``2026-11-12``, plant local time;
              a row whose part the station recorded (``part_id``, and ``camera`` when several) counts at that part's trigger time
``count``     how many parts this row stands for (default 1)
``part_id``   the part's id, when the audit knows it
``camera``    the camera that inspected it
``defect``    what was found
``note``      free text

A file imported twice adds nothing: a row equal to one already stored is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import ReportError, StoreError
from inspector.records.escapes import add_escape, add_escapes, trigger_times
from inspector.reports.shifts import zone

COLUMNS = ("time", "count", "part_id", "camera", "defect", "note")


@dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int
    skipped: int  # already stored


def _time(text: str, timezone: str, where: str) -> float:
    text = text.strip()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{where}: column 'time': expected a date or date and time (2026-11-12 or 2026-11-12 14:30), got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(timezone))
    return value.timestamp()


def _int(text: str, column: str, where: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ReportError(f"{where}: column {column!r}: expected a whole number, got {text!r}") from None
    if value < minimum:
        raise ReportError(f"{where}: column {column!r}: must be at least {minimum}, got {value}")
    return value


def read_escapes_csv(path: Path, timezone: str) -> list[dict]:
    """The rows of an escapes file; every problem names the file, line and column. Nothing is stored if any row is bad."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            if "time" not in header:
                raise ReportError(f"{path}: the header row must name a 'time' column (columns: {', '.join(COLUMNS)}); found {header or 'no header'}")
            unknown = sorted(set(header) - set(COLUMNS))
            if unknown:
                raise ReportError(f"{path}: unknown column(s) {', '.join(unknown)} (allowed: {', '.join(COLUMNS)})")
            reader.fieldnames = header
            rows = []
            for line, raw in enumerate(reader, start=2):
                where = f"{path}, line {line}"
                if None in raw:
                    raise ReportError(f"{where}: more fields than the header has")
                if not any((v or "").strip() for v in raw.values()):
                    continue
                get = {name: (raw.get(name) or "").strip() for name in COLUMNS}.__getitem__
                rows.append({
                    "t": _time(get("time"), timezone, where),
                    "count": _int(get("count"), "count", where, 1) if get("count") else 1,
                    "part_id": _int(get("part_id"), "part_id", where, 0) if get("part_id") else None,
                    "camera": get("camera"),
                    "defect": get("defect"),
                    "note": get("note"),
                })
    except OSError as err:
        raise ReportError(f"cannot read the escapes file {path}: {err.strerror}") from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise ReportError(f"{path} is not a readable CSV file: {err}") from err
    return rows


def import_escapes(database: Path, path: Path, timezone: str) -> ImportResult:
    """Store the escapes of ``path`` in the station's database (all or none)."""
    rows = read_escapes_csv(path, timezone)
    if not Path(database).exists():
        raise ReportError(f"the station database {database} does not exist")
    try:
        _at_recorded_time(database, rows)
        added = add_escapes(database, [{**r, "source": str(path), "imported": time.time()} for r in rows])
    except StoreError as err:
        raise ReportError(str(err)) from err
    return ImportResult(rows=len(rows), added=added, skipped=len(rows) - added)


def _at_recorded_time(database: Path, rows: list[dict]) -> None:
    """A row naming a part the station recorded counts when that part was inspected, not on the audit's date."""
    named = [r for r in rows if r["part_id"] is not None]
    for row, found in zip(named, trigger_times(database, [(r["part_id"], r["camera"]) for r in named])):
        if len(found) == 1 and found[0] is not None:
            row["t"] = found[0]


def _part_time(database: Path, part_id: int, camera: str) -> float:
    (found,) = trigger_times(database, [(part_id, camera)])
    if len(found) != 1 or found[0] is None:
        where = f" of camera {camera}" if camera else ""
        why = "is not in the station's records" if not found else "was seen by several cameras: name the camera"
        raise ReportError(f"part {part_id}{where} {why}; or give the time it was made")
    return float(found[0])


def record_escape(database: Path, *, t: float | None, part_id: int | None, camera: str = "", defect: str = "",
                  note: str = "", count: int = 1, source: str = "hmi") -> dict:
    """Store one escape entered by hand (the HMI's "Escape reported"), counted by the reports like an imported row.

    Give the part's id (it counts at the part's inspection time) or the time it was made. Returns the stored row;
    :class:`ReportError` for an entry without part or time, an unknown part, or one equal to an escape already stored."""
    if part_id is None and t is None:
        raise ReportError("an escape needs the part's id or the time it was made")
    if part_id is not None and part_id < 0:
        raise ReportError(f"part id must be 0 or more, got {part_id}")
    if count < 1:
        raise ReportError(f"count must be at least 1, got {count}")
    if not Path(database).exists():
        raise ReportError(f"the station database {database} does not exist")
    row = {"t": t, "count": count, "part_id": part_id, "camera": camera.strip(), "defect": defect.strip(), "note": note.strip()}
    try:
        if part_id is not None:
            row["t"] = _part_time(database, part_id, row["camera"])
        escape_id = add_escape(database, {**row, "source": source, "imported": time.time()})
    except StoreError as err:
        raise ReportError(str(err)) from err
    if escape_id is None:
        raise ReportError("this escape is already recorded (same part, time, defect and note)")
    row["id"] = escape_id
    return row

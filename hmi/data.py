"""The HMI's view of the recorder's database, and the tables the HMI adds to it.

The recorder owns ``parts`` and ``alarms``; the HMI only reads them. It adds
its own tables beside them (created on first open, never altering the
recorder's): ``hmi_users`` (PIN hashes), ``reject_marks`` (an operator's
false-reject / true-defect mark per part), ``part_labels`` (a quality
engineer's label and boxes per image). Alarm acknowledgements live on the
station's alarm board (:mod:`hmi.alarm_vm`), not here. Every write is one
short transaction, so the recorder (WAL, busy timeout) never waits long.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from hmi.roles import HmiError
from inspector.file_modes import owner_only
from inspector.store import ALARMS_COLUMNS, PARTS_COLUMNS, PARTS_PK

log = logging.getLogger(__name__)

Mark = Literal["false_reject", "true_defect"]
Label = Literal["good", "defective"]
REJECT_RESULTS = ("REJECT", "FAILSAFE_REJECT")
PartKey = tuple[str, int]  # camera, part id

_HMI_SCHEMA = """
CREATE TABLE IF NOT EXISTS hmi_users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, salt BLOB NOT NULL, pin_hash BLOB NOT NULL,
    iterations INTEGER NOT NULL, created REAL NOT NULL,
    seal TEXT, failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reject_marks (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL,
    mark TEXT NOT NULL CHECK (mark IN ('false_reject', 'true_defect')),
    result TEXT NOT NULL, t_trigger REAL NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (camera, part_id)
);
CREATE INDEX IF NOT EXISTS reject_marks_t_trigger ON reject_marks (t_trigger);
CREATE TABLE IF NOT EXISTS part_labels (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('good', 'defective')),
    boxes TEXT NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (camera, part_id)
);
"""


@dataclass(frozen=True)
class Box:
    """A labelled box in image pixels (x1 < x2, y1 < y2)."""

    cls: str
    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def of(cls, name: str, box: tuple[float, float, float, float] | list[float]) -> "Box":
        x1, y1, x2, y2 = (float(v) for v in box)
        return cls(name, min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

    def to_json(self) -> dict[str, Any]:
        return {"cls": self.cls, "box": [round(v, 2) for v in (self.x1, self.y1, self.x2, self.y2)]}


@dataclass(frozen=True)
class PartRecord:
    """One part as the screens show it: the line's decision and what people said about it."""

    camera: str
    part_id: int
    result: str
    source: str
    t_trigger: float
    latency_ms: float | None
    detections: list[dict[str, Any]]
    image_path: str | None
    model_version: str
    plc_delivered: bool
    mark: str | None = None
    mark_user: str | None = None
    label: str | None = None
    label_boxes: list[Box] = field(default_factory=list)
    image_note: str | None = None  # why there is no image although one was taken ("image removed by retention", ...)

    @property
    def key(self) -> PartKey:
        return (self.camera, self.part_id)

    @property
    def is_reject(self) -> bool:
        return self.result in REJECT_RESULTS

    def detection_boxes(self) -> list[Box]:
        return [Box.of(d["cls"], d["box"]) for d in self.detections]


@dataclass(frozen=True)
class ShiftCounts:
    inspected: int = 0
    passed: int = 0  # PASS and FAILSAFE_PASS
    rejected: int = 0  # REJECT (the model's)
    failsafe_rejects: int = 0  # FAILSAFE_REJECT (no verdict in time, detector error)
    false_rejects: int = 0  # rejects an operator marked as good parts
    confirmed_defects: int = 0

    @property
    def false_reject_rate(self) -> float:
        """Operator-confirmed false rejects per inspected part."""
        return self.false_rejects / self.inspected if self.inspected else 0.0


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


@dataclass(frozen=True)
class ReviewFilter:
    """What the review queue shows. ``verdict``: 'all', 'reject' (incl. fail-safe), 'pass', 'failsafe'."""

    since: float | None = None
    until: float | None = None
    cls: str | None = None
    verdict: str = "all"
    reviewed: bool | None = None
    limit: int = 500


_PART_SELECT = """
SELECT p.camera, p.part_id, p.result, p.source, p.t_trigger, p.latency_ms, p.detections, p.image_path, p.image_note,
       p.model_version, p.plc_delivered, m.mark, m.user AS mark_user, l.label, l.boxes AS label_boxes
FROM parts p
LEFT JOIN reject_marks m ON m.camera = p.camera AND m.part_id = p.part_id
LEFT JOIN part_labels l ON l.camera = p.camera AND l.part_id = p.part_id
"""


class HmiDatabase:
    """A connection to the recorder's database with the HMI's tables in it."""

    def __init__(self, database: str | Path, timeout_s: float = 5.0) -> None:
        self.path = Path(database)
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._open()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection to the database file at the path now: the recorder replaces a database damaged while it
        runs by a fresh one (carrying the HMI's tables over), and the HMI follows it there."""
        try:
            moved = self.path.stat().st_ino != self._inode
        except OSError:  # between the damaged file moved aside and the fresh one made: the last one, for a moment
            moved = False
        if moved:
            log.warning("the database %s was replaced by a fresh one (the recorder found it damaged): reopening it", self.path)
            self._conn.close()
            self._open()
        return self._conn

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn = sqlite3.connect(str(self.path), timeout=self.timeout_s, check_same_thread=False)
            self._inode = self.path.stat().st_ino
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            db = sqlite_utils.Database(conn)
            # The line may not have started yet: create the recorder's tables exactly as its Store does.
            db["parts"].create(PARTS_COLUMNS, pk=PARTS_PK, if_not_exists=True)
            db["alarms"].create(ALARMS_COLUMNS, pk="id", if_not_exists=True)
            conn.executescript(_HMI_SCHEMA)
            present = {r[1] for r in conn.execute("PRAGMA table_info(hmi_users)")}
            for column, kind in (("seal", "TEXT"), ("failed_logins", "INTEGER NOT NULL DEFAULT 0"),
                                 ("locked_until", "REAL NOT NULL DEFAULT 0")):
                if column not in present:  # a database from before sealed accounts: its users must be re-created
                    conn.execute(f"ALTER TABLE hmi_users ADD COLUMN {column} {kind}")
            owner_only(self.path)
            # a database the recorder has not opened since image notes were added has no such column yet
            noted = "image_note" in {r[1] for r in conn.execute("PRAGMA table_info(parts)")}
            self._part_select = _PART_SELECT if noted else _PART_SELECT.replace("p.image_note", "NULL AS image_note")
        except (OSError, sqlite3.Error) as err:
            raise HmiError(f"cannot open the database {self.path}: {err}") from err

    def close(self) -> None:
        self._conn.close()

    # -- reading --------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise HmiError(f"cannot read the database {self.path}: {err}") from err

    def shift_counts(self, since: float) -> ShiftCounts:
        row = self._rows(
            """SELECT count(*) AS inspected,
                      coalesce(sum(result IN ('PASS', 'FAILSAFE_PASS')), 0) AS passed,
                      coalesce(sum(result = 'REJECT'), 0) AS rejected,
                      coalesce(sum(result = 'FAILSAFE_REJECT'), 0) AS failsafe_rejects
               FROM parts WHERE result IS NOT NULL AND t_trigger >= ?""",
            (since,),
        )[0]
        marks = dict(self._rows("SELECT mark, count(*) FROM reject_marks WHERE t_trigger >= ? GROUP BY mark", (since,)))
        return ShiftCounts(
            row["inspected"], row["passed"], row["rejected"], row["failsafe_rejects"],
            marks.get("false_reject", 0), marks.get("true_defect", 0),
        )

    def recorded(self, keys: list[PartKey]) -> set[PartKey]:
        """Which of ``keys`` the recorder has written a decision for."""
        found: set[PartKey] = set()
        for camera in {c for c, _ in keys}:
            ids = [p for c, p in keys if c == camera]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                rows = self._rows(
                    f"SELECT part_id FROM parts WHERE result IS NOT NULL AND camera = ? AND part_id IN ({','.join('?' * len(part))})",
                    [camera, *part],
                )
                found.update((camera, r[0]) for r in rows)
        return found

    def part(self, key: PartKey) -> PartRecord | None:
        rows = self._rows(self._part_select + " WHERE p.camera = ? AND p.part_id = ?", key)
        return _record(rows[0]) if rows else None

    def latest_parts(self, limit: int = 1) -> list[PartRecord]:
        return [_record(r) for r in self._rows(self._part_select + " WHERE p.result IS NOT NULL ORDER BY p.t_trigger DESC LIMIT ?", (limit,))]

    def latest_with_image(self) -> PartRecord | None:
        rows = self._rows(self._part_select + " WHERE p.result IS NOT NULL AND p.image_path IS NOT NULL ORDER BY p.t_trigger DESC LIMIT 1")
        return _record(rows[0]) if rows else None

    def recent_rejects(self, since: float, limit: int = 12) -> list[PartRecord]:
        rows = self._rows(
            self._part_select + " WHERE p.result IN ('REJECT', 'FAILSAFE_REJECT') AND p.t_trigger >= ? ORDER BY p.t_trigger DESC LIMIT ?",
            (since, limit),
        )
        return [_record(r) for r in rows]

    def latencies(self, since: float, limit: int = 200) -> list[float]:
        rows = self._rows(
            "SELECT latency_ms FROM parts WHERE latency_ms IS NOT NULL AND t_trigger >= ? ORDER BY t_trigger DESC LIMIT ?",
            (since, limit),
        )
        return [r[0] for r in reversed(rows)]

    def review_queue(self, flt: ReviewFilter) -> list[PartRecord]:
        """Parts with a stored image (rejects and sampled passes), newest first, filtered."""
        where, args = ["p.image_path IS NOT NULL", "p.result IS NOT NULL"], []
        if flt.since is not None:
            where.append("p.t_trigger >= ?")
            args.append(flt.since)
        if flt.until is not None:
            where.append("p.t_trigger < ?")
            args.append(flt.until)
        verdicts = {
            "all": None, "reject": REJECT_RESULTS, "pass": ("PASS", "FAILSAFE_PASS"), "failsafe": ("FAILSAFE_REJECT", "FAILSAFE_PASS"),
        }
        if flt.verdict not in verdicts:
            raise HmiError(f"unknown verdict filter {flt.verdict!r} (one of {', '.join(verdicts)})")
        if verdicts[flt.verdict]:
            where.append(f"p.result IN ({','.join('?' * len(verdicts[flt.verdict]))})")
            args.extend(verdicts[flt.verdict])
        if flt.reviewed is not None:
            where.append("l.label IS NOT NULL" if flt.reviewed else "l.label IS NULL")
        rows = self._rows(self._part_select + " WHERE " + " AND ".join(where) + " ORDER BY p.t_trigger DESC", args)
        records = [_record(r) for r in rows]
        if flt.cls:
            records = [r for r in records if flt.cls in {d["cls"] for d in r.detections} | {b.cls for b in r.label_boxes}]
        return records[: flt.limit]

    def labelled_parts(self) -> list[PartRecord]:
        return [_record(r) for r in self._rows(self._part_select + " WHERE l.label IS NOT NULL ORDER BY p.camera, p.part_id")]

    def alarms_since(self, since: float) -> list[AlarmRecord]:
        rows = self._rows("SELECT t, source, code, severity, text, active, part_id FROM alarms WHERE t > ? ORDER BY t", (since,))
        return [AlarmRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    def alarms_with_prefix(self, prefix: str) -> list[AlarmRecord]:
        """Every alarm row whose code starts with ``prefix`` (raised and cleared), oldest first."""
        rows = self._rows("SELECT t, source, code, severity, text, active, part_id FROM alarms WHERE code LIKE ? ESCAPE '\\' "
                          "ORDER BY t", (prefix.replace("_", "\\_") + "%",))
        return [AlarmRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    # -- writing --------------------------------------------------------------------
    def _write(self, sql: str, args: tuple | list, what: str) -> None:
        try:
            conn = self.conn
            with conn:
                conn.execute(sql, args)
        except sqlite3.Error as err:
            raise HmiError(f"cannot {what} in {self.path}: {err}") from err

    def set_mark(self, part: PartRecord, mark: Mark, user: str, t: float | None = None) -> None:
        self._write(
            "INSERT OR REPLACE INTO reject_marks (camera, part_id, mark, result, t_trigger, user, t) VALUES (?,?,?,?,?,?,?)",
            (part.camera, part.part_id, mark, part.result, part.t_trigger, user, time.time() if t is None else t),
            f"mark part {part.part_id}",
        )

    def clear_mark(self, key: PartKey) -> None:
        self._write("DELETE FROM reject_marks WHERE camera = ? AND part_id = ?", key, f"clear the mark of part {key[1]}")

    def clear_label(self, key: PartKey) -> None:
        self._write("DELETE FROM part_labels WHERE camera = ? AND part_id = ?", key, f"clear the label of part {key[1]}")

    def marks(self, keys: list[PartKey]) -> dict[PartKey, tuple[str, str]]:
        """The stored mark and who made it, for those of ``keys`` that are marked."""
        found: dict[PartKey, tuple[str, str]] = {}
        for key in keys:
            rows = self._rows("SELECT mark, user FROM reject_marks WHERE camera = ? AND part_id = ?", key)
            if rows:
                found[key] = (rows[0][0], rows[0][1])
        return found

    def mark_of(self, key: PartKey) -> str | None:
        rows = self._rows("SELECT mark FROM reject_marks WHERE camera = ? AND part_id = ?", key)
        return rows[0][0] if rows else None

    def save_label(self, key: PartKey, label: Label, boxes: list[Box], user: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO part_labels (camera, part_id, label, boxes, user, t) VALUES (?,?,?,?,?,?)",
            (*key, label, json.dumps([b.to_json() for b in boxes]), user, time.time()),
            f"save the label of part {key[1]}",
        )


def _record(row: sqlite3.Row) -> PartRecord:
    boxes = [Box.of(b["cls"], b["box"]) for b in json.loads(row["label_boxes"])] if row["label_boxes"] else []
    return PartRecord(
        camera=row["camera"], part_id=row["part_id"], result=row["result"], source=row["source"] or "",
        t_trigger=row["t_trigger"] or 0.0, latency_ms=row["latency_ms"],
        detections=json.loads(row["detections"]) if row["detections"] else [],
        image_path=row["image_path"], model_version=row["model_version"] or "", plc_delivered=bool(row["plc_delivered"]),
        mark=row["mark"], mark_user=row["mark_user"], label=row["label"], label_boxes=boxes, image_note=row["image_note"],
    )

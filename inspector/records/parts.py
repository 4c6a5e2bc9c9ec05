"""Typed reads of the ``parts`` table: a part as the screens show it, and the figures others read.

:class:`PartReads` are the station database's queries (:class:`~.station.StationDatabase`:
the HMI, the retraining's export); the functions below open the database
read-only for one read (the OPC UA server's last result, the line's summary,
triage, the bench). The table's writer is the recorder (:mod:`.store`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from inspector.errors import StoreError
from inspector.records.readonly import column_names, reading, rows_while_there, table_names

PartKey = tuple[str, int]  # camera, part id
REJECT_RESULTS = ("REJECT", "FAILSAFE_REJECT")


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
_VERDICTS = {"all": None, "reject": REJECT_RESULTS, "pass": ("PASS", "FAILSAFE_PASS"), "failsafe": ("FAILSAFE_REJECT", "FAILSAFE_PASS")}


def part_select(conn: sqlite3.Connection) -> str:
    """The select of :class:`PartRecord` rows; a database the recorder has not opened since image notes were added
    has no such column yet."""
    return _PART_SELECT if "image_note" in column_names(conn, "parts") else _PART_SELECT.replace("p.image_note", "NULL AS image_note")


def part_record(row: sqlite3.Row) -> PartRecord:
    boxes = [Box.of(b["cls"], b["box"]) for b in json.loads(row["label_boxes"])] if row["label_boxes"] else []
    return PartRecord(
        camera=row["camera"], part_id=row["part_id"], result=row["result"], source=row["source"] or "",
        t_trigger=row["t_trigger"] or 0.0, latency_ms=row["latency_ms"],
        detections=json.loads(row["detections"]) if row["detections"] else [],
        image_path=row["image_path"], model_version=row["model_version"] or "", plc_delivered=bool(row["plc_delivered"]),
        mark=row["mark"], mark_user=row["mark_user"], label=row["label"], label_boxes=boxes, image_note=row["image_note"],
    )


class PartReads:
    """The station database's part queries (mixed into :class:`~.station.StationDatabase`, which gives ``_rows``
    and ``_part_select``)."""

    _part_select: str

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

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
        return part_record(rows[0]) if rows else None

    def latest_parts(self, limit: int = 1) -> list[PartRecord]:
        return [part_record(r) for r in self._rows(self._part_select + " WHERE p.result IS NOT NULL ORDER BY p.t_trigger DESC LIMIT ?", (limit,))]

    def latest_with_image(self) -> PartRecord | None:
        rows = self._rows(self._part_select + " WHERE p.result IS NOT NULL AND p.image_path IS NOT NULL ORDER BY p.t_trigger DESC LIMIT 1")
        return part_record(rows[0]) if rows else None

    def recent_rejects(self, since: float, limit: int = 12) -> list[PartRecord]:
        rows = self._rows(
            self._part_select + " WHERE p.result IN ('REJECT', 'FAILSAFE_REJECT') AND p.t_trigger >= ? ORDER BY p.t_trigger DESC LIMIT ?",
            (since, limit),
        )
        return [part_record(r) for r in rows]

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
        if flt.verdict not in _VERDICTS:
            raise StoreError(f"unknown verdict filter {flt.verdict!r} (one of {', '.join(_VERDICTS)})")
        if _VERDICTS[flt.verdict]:
            where.append(f"p.result IN ({','.join('?' * len(_VERDICTS[flt.verdict]))})")
            args.extend(_VERDICTS[flt.verdict])
        if flt.reviewed is not None:
            where.append("l.label IS NOT NULL" if flt.reviewed else "l.label IS NULL")
        rows = self._rows(self._part_select + " WHERE " + " AND ".join(where) + " ORDER BY p.t_trigger DESC", args)
        records = [part_record(r) for r in rows]
        if flt.cls:
            records = [r for r in records if flt.cls in {d["cls"] for d in r.detections} | {b.cls for b in r.label_boxes}]
        return records[: flt.limit]

    def labelled_parts(self) -> list[PartRecord]:
        return [part_record(r) for r in self._rows(self._part_select + " WHERE l.label IS NOT NULL ORDER BY p.camera, p.part_id")]

    def frame_source(self, key: PartKey) -> str | None:
        """Where the part's frame came from (the synthetic generator's ``synthetic:seed:rate:index`` ...)."""
        rows = self._rows("SELECT frame_source FROM parts WHERE camera = ? AND part_id = ?", key)
        return rows[0][0] if rows else None


# -- one read, read-only --------------------------------------------------------------------------------------------
class LastResult(NamedTuple):
    camera: str
    part_id: int
    result: str
    model_version: str | None
    latency_ms: float | None
    t_trigger: float
    detections: str | None  # as stored (JSON)


def last_decided(database: str | Path) -> LastResult | None:
    """The latest decided part (by trigger time); None when there is none or no database."""
    if not Path(database).is_file():
        return None
    try:
        with reading(database, 2) as conn:
            row = conn.execute("SELECT camera, part_id, result, model_version, latency_ms, t_trigger, detections FROM parts "
                               "WHERE result IS NOT NULL ORDER BY t_trigger DESC LIMIT 1").fetchone()
    except sqlite3.Error as err:
        raise StoreError(f"the last recorded result cannot be read from {database}: {err}") from err
    return LastResult(*row) if row else None


def decided_rows(database: str | Path) -> list[sqlite3.Row]:
    """Every decided part's row (every column), in part-id order."""
    return rows_while_there(database, "SELECT * FROM parts WHERE result IS NOT NULL ORDER BY part_id")


def every_row(database: str | Path) -> list[sqlite3.Row]:
    """Every part's row, decided or not (a row made by an image whose decision has not come), in table order."""
    return rows_while_there(database, "SELECT * FROM parts")


def decided_count(database: str | Path) -> int:
    rows = rows_while_there(database, "SELECT count(*) AS n FROM parts WHERE result IS NOT NULL")
    return rows[0]["n"] if rows else 0


def decided_on_model(database: str | Path, model_version: str) -> int:
    """How many decided parts the model ``model_version`` (name@version) decided."""
    rows = rows_while_there(database, "SELECT count(*) AS n FROM parts WHERE result IS NOT NULL AND model_version = ?", (model_version,))
    return rows[0]["n"] if rows else 0


def decided_summary_rows(database: str | Path) -> list[tuple[str, float | None, int, str | None, str | None, str | None]]:
    """(result, latency_ms, plc_delivered, frame_source, verdict_result, timings_ms) of every decided part (the
    line's summary)."""
    try:
        with reading(database) as conn:
            return conn.execute(
                "SELECT result, latency_ms, plc_delivered, frame_source, verdict_result, timings_ms FROM parts WHERE result IS NOT NULL"
            ).fetchall()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the station database {database}: {err}") from err


def unlabelled_with_detections(database: str | Path) -> list[sqlite3.Row]:
    """Parts with a stored image and detections that no one labelled yet (triage's candidates): camera, part_id,
    result, model_version, detections, image_path."""
    try:
        with reading(database, 5, rows=True) as conn:
            labelled = "part_labels" in table_names(conn)
            return conn.execute(
                "SELECT p.camera, p.part_id, p.result, p.model_version, p.detections, p.image_path FROM parts p "
                + ("LEFT JOIN part_labels l USING (camera, part_id) WHERE l.label IS NULL AND " if labelled else "WHERE ")
                + "p.image_path IS NOT NULL AND p.image_path != '' AND p.detections IS NOT NULL"
            ).fetchall()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the decided parts in {database}: {err}") from err


class DecidedPart(NamedTuple):
    camera: str
    part_id: int
    t_trigger: float
    result: str
    plc_delivered: int


def decided_parts(database: str | Path) -> list[DecidedPart]:
    """Every decided part's key, trigger time, result and PLC delivery (the soak's accounting)."""
    return [DecidedPart(*r) for r in rows_while_there(
        database, "SELECT camera, part_id, t_trigger, result, plc_delivered FROM parts WHERE result IS NOT NULL", timeout_s=10)]


def decided_counts(database: str | Path) -> dict[str, int]:
    """How many parts are recorded with a decision, fail-safe, and not confirmed by the PLC."""
    rows = rows_while_there(database, "SELECT count(*), coalesce(sum(result LIKE 'FAILSAFE%'), 0), "
                                      "coalesce(sum(NOT plc_delivered), 0) FROM parts WHERE result IS NOT NULL", timeout_s=10)
    recorded, failsafe, undelivered = rows[0] if rows else (0, 0, 0)
    return {"recorded": recorded, "failsafe": failsafe, "undelivered": undelivered}


def decided_between(database: str | Path, t_from: float, t_to: float) -> tuple[int, int]:
    """(recorded, fail-safe) parts triggered in [t_from, t_to)."""
    rows = rows_while_there(database, "SELECT count(*), sum(result LIKE 'FAILSAFE%') FROM parts WHERE result IS NOT NULL "
                                      "AND t_trigger >= ? AND t_trigger < ?", (float(t_from), float(t_to)), timeout_s=10)
    return (rows[0][0] or 0, rows[0][1] or 0) if rows else (0, 0)

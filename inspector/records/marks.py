"""What people said about parts: the operator's ``reject_marks`` and the quality engineer's ``part_labels``.

Written by the HMI (:class:`Marks`, mixed into :class:`~.station.StationDatabase`),
read by the review screen, the reports (:mod:`.period`), the golden set
(:func:`reviewed_images`) and the recorder's retention, which never removes
the image of a part a person reviewed (:mod:`.stored_images`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.errors import StoreError
from inspector.records.parts import Box, PartKey, PartRecord
from inspector.records.readonly import reading, table_names

Mark = Literal["false_reject", "true_defect"]
Label = Literal["good", "defective"]


class Marks:
    """The station database's marks and labels (given ``_rows`` and ``_write`` by the class it is mixed into)."""

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def _write(self, sql: str, args: tuple | list, what: str, many: bool = False) -> int:
        raise NotImplementedError

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

    def load_marks(self, rows: list[tuple[str, int, Mark, str, float, str, float]]) -> None:
        """Marks of a made-up history (``inspector report synth``): (camera, part id, mark, result, trigger time, user, t)."""
        self._write("INSERT INTO reject_marks (camera, part_id, mark, result, t_trigger, user, t) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows, f"store {len(rows)} marks", many=True)


@dataclass(frozen=True)
class ReviewedImage:
    """A stored image a person judged: ``label`` good / defective, with the classes of its boxes (none for a mark)."""

    camera: str
    part_id: int
    image_path: str
    label: Label
    classes: tuple[str, ...]


def reviewed_images(database: str | Path, since: float = 0.0) -> list[ReviewedImage]:
    """Parts with a stored image a person labelled (or marked a false reject / a true defect) since ``since``: every
    label, then the marks of parts without one. Raises :class:`StoreError`."""
    try:
        with reading(database, 5) as conn:
            tables = table_names(conn)
            labelled = conn.execute(
                "SELECT p.camera, p.part_id, p.image_path, l.label, l.boxes FROM part_labels l JOIN parts p "
                "USING (camera, part_id) WHERE p.image_path IS NOT NULL AND p.image_path != '' AND l.t >= ?", (since,)
            ).fetchall() if "part_labels" in tables else []
            marked = conn.execute(
                "SELECT p.camera, p.part_id, p.image_path, m.mark FROM reject_marks m JOIN parts p USING (camera, part_id) "
                "WHERE p.image_path IS NOT NULL AND p.image_path != '' AND m.t >= ?", (since,)
            ).fetchall() if "reject_marks" in tables else []
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the reviewed parts in {database}: {err}") from err
    out, seen = [], set()
    for camera, part_id, image, label, boxes in labelled:
        classes = tuple(sorted({b["cls"] for b in json.loads(boxes or "[]")}))
        out.append(ReviewedImage(camera, part_id, image, label, classes))
        seen.add((camera, part_id))
    for camera, part_id, image, mark in marked:
        if (camera, part_id) not in seen:
            out.append(ReviewedImage(camera, part_id, image, "good" if mark == "false_reject" else "defective", ()))
    return out


"""The recorder's queries on its stored images: which go first, how much they take, marking one removed.

The images are the ``parts`` rows with an ``image_path`` (the recorder's
table, :mod:`.store`). Whether a person reviewed a part is in people's tables
in the same database, ``reject_marks`` (an operator's mark) and
``part_labels`` (a quality engineer's label) (:mod:`.marks`): this module is
the recorder's one read of them, so that the images people looked at are
never removed. They exist only once the HMI has opened the database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.records.schema import REVIEW_TABLES
from inspector.records.store import IMAGE_FILE_MISSING, Store, store_error

ImageKind = Literal["pass", "reject"]  # a sampled pass (verdict PASS), or a reject / fail-safe image
VERDICTS_OF: dict[str, tuple[str, ...]] = {"pass": ("PASS",), "reject": ("REJECT", "FAILSAFE")}


@dataclass(frozen=True)
class StoredImage:
    camera: str
    part_id: int
    path: str
    size: int | None  # bytes, None for an image stored before sizes were recorded
    t_verdict: float


class StoredImages:
    """Typed queries over a store's images (its own connection: the recorder's thread only)."""

    def __init__(self, store: Store) -> None:
        self.conn = store.db.conn

    def _reviewed_tables(self) -> list[str]:
        rows = self.conn.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({','.join('?' * len(REVIEW_TABLES))})",
            REVIEW_TABLES,
        ).fetchall()
        return [r[0] for r in rows]

    def oldest(self, kind: ImageKind, limit: int, before: float | None = None) -> list[StoredImage]:
        """The oldest stored images of ``kind`` (verdict before ``before``), none of a part a person reviewed."""
        found: list[StoredImage] = []
        for verdict in VERDICTS_OF[kind]:  # one index range each (verdict, time), merged here
            found.extend(self._oldest(verdict, limit, before))
        return sorted(found, key=lambda i: i.t_verdict)[:limit]

    def _oldest(self, verdict: str, limit: int, before: float | None) -> list[StoredImage]:
        where, args = ["p.image_path IS NOT NULL", "p.verdict_result = ?"], [verdict]
        if before is not None:
            where.append("p.t_verdict < ?")
            args.append(before)
        for table in self._reviewed_tables():
            where.append(f"NOT EXISTS (SELECT 1 FROM {table} r WHERE r.camera = p.camera AND r.part_id = p.part_id)")
        sql = (f"SELECT p.camera, p.part_id, p.image_path, p.image_bytes, p.t_verdict FROM parts p "
               f"WHERE {' AND '.join(where)} ORDER BY p.t_verdict LIMIT ?")
        try:
            rows = self.conn.execute(sql, [*args, limit]).fetchall()
        except sqlite3.Error as err:
            raise store_error("cannot read the stored images", err) from err
        return [StoredImage(r[0], r[1], r[2], r[3], r[4] or 0.0) for r in rows]

    def total_bytes(self) -> int:
        """What the stored images take (those stored before sizes were recorded count once measured)."""
        try:
            row = self.conn.execute("SELECT coalesce(sum(image_bytes), 0) FROM parts WHERE image_path IS NOT NULL").fetchone()
        except sqlite3.Error as err:
            raise store_error("cannot read the stored images' size", err) from err
        return int(row[0])

    def unmeasured(self, limit: int) -> list[StoredImage]:
        """Stored images without a recorded size (from before sizes were recorded)."""
        try:
            rows = self.conn.execute(
                "SELECT camera, part_id, image_path, image_bytes, t_verdict FROM parts "
                "WHERE image_path IS NOT NULL AND image_bytes IS NULL LIMIT ?", (limit,)
            ).fetchall()
        except sqlite3.Error as err:
            raise store_error("cannot read the stored images", err) from err
        return [StoredImage(r[0], r[1], r[2], r[3], r[4] or 0.0) for r in rows]

    def set_sizes(self, sizes: list[tuple[StoredImage, int]]) -> None:
        self._update("UPDATE parts SET image_bytes = ? WHERE camera = ? AND part_id = ? AND image_path = ?",
                     [(size, i.camera, i.part_id, i.path) for i, size in sizes], "record the stored images' sizes")

    def mark_removed(self, images: list[StoredImage], note: str) -> None:
        """The parts keep their records; their image is gone (``note`` says why, for the HMI and reports)."""
        self._update("UPDATE parts SET image_path = NULL, image_bytes = NULL, image_note = ? "
                     "WHERE camera = ? AND part_id = ? AND image_path = ?",
                     [(note, i.camera, i.part_id, i.path) for i in images], "mark images removed")

    def mark_missing(self, images: list[StoredImage]) -> None:
        self.mark_removed(images, IMAGE_FILE_MISSING)

    def _update(self, sql: str, rows: list[tuple], what: str) -> None:
        if not rows:
            return
        try:
            with self.conn:
                self.conn.executemany(sql, rows)
        except sqlite3.Error as err:
            raise store_error(f"cannot {what}", err) from err


def file_size(path: str) -> int | None:
    """The image file's size, None when it is gone."""
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return None

"""The recorder's store: one SQLite row per part (sqlite-utils, WAL) and an image folder.

A part's row is built from two streams that may arrive in either order: the
actuator's decision (result, timings, PLC delivery) and the detector's
inspection record (the image of a reject or a sampled pass). Both fill the
same row, keyed by camera and part id. A stored row is never overwritten: a
part's decision and its inspection record are each written once, and only
into the row of the same part (the same trigger time, when both know it); a second one, or one
for another part under the same id, is refused (returned, so the recorder
counts it and raises ``decision_refused``) and the first is kept. Part ids
are unique for the life of the station (64-bit), so a refusal means a
repeated or forged message. An image file is never replaced either: it is
created exclusively, next to any file of the same name.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import sqlite_utils

from inspector.errors import StoreCorruptError, StoreError, StoreUnavailableError
from inspector.file_modes import create_private, owner_only, private_folder
from inspector.messages import TRIGGER_TIME_UNKNOWN, Alarm, Decision, Verdict, to_builtins
from inspector.records.schema import PARTS_PK, create_recorder_tables

log = logging.getLogger(__name__)

CORRUPTION_WORDS = ("file is not a database", "malformed")
_CORRUPTION_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
MAX_IMAGE_NAME_TRIES = 100
HISTORY_ALARM_COLUMNS = ("t", "station", "source", "code", "severity", "text", "active", "part_id")  # Store.load_history


@dataclass
class Refused:
    """Part rows the store did not write: their part already has one (or the row is another part's); the first is kept."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    inspections: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.decisions) + len(self.inspections)

    def __iadd__(self, other: "Refused") -> "Refused":
        self.decisions += other.decisions
        self.inspections += other.inspections
        return self

# image_note: what the HMI and reports say where a part's image is missing
IMAGE_REMOVED = "image removed by retention"
IMAGE_NOT_STORED_DISK = "image not stored: disk space critical"
IMAGE_NOT_STORED = "image not stored"  # followed by the write error
IMAGE_FILE_MISSING = "image file missing"


# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: the same write works later
_UNAVAILABLE_CODES = (5, 6, 8, 10, 13, 14)
_UNAVAILABLE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)


def store_error(what: str, err: sqlite3.Error | OSError | OverflowError) -> StoreError:
    """``err`` wrapped at the store's boundary: :class:`StoreCorruptError` when the file itself is damaged,
    :class:`StoreUnavailableError` when the write will work later (disk full ...), :class:`StoreError` otherwise
    (something in the rows themselves)."""
    if isinstance(err, OSError):
        return (StoreUnavailableError if err.errno in _UNAVAILABLE_ERRNOS else StoreError)(f"{what}: {err}")
    code = getattr(err, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    if primary in _CORRUPTION_CODES or any(w in str(err) for w in CORRUPTION_WORDS):
        return StoreCorruptError(f"{what}: {err}")
    if primary in _UNAVAILABLE_CODES:
        return StoreUnavailableError(f"{what}: {err}")
    return StoreError(f"{what}: {err}")


class Store:
    """The recorder's writer: the station database's ``parts``, ``alarms`` and ``recorder_state`` (one connection,
    the recorder's thread), and the image folder. A database found damaged when opened is moved aside
    (:attr:`quarantined`) and a fresh one started."""

    def __init__(self, database: str | Path, image_dir: str | Path) -> None:
        self.path = Path(database)
        self.image_dir = Path(image_dir)
        self.quarantined: Path | None = None  # a corrupt database found at open, moved aside
        try:
            self._open(Path(database))
        except StoreCorruptError as err:
            self.quarantined = quarantine(Path(database))
            log.error("store: %s; moved it to %s and started a new one", err, self.quarantined)
            self._open(Path(database))

    def _open(self, database: Path) -> None:
        try:
            private_folder(self.image_dir)  # owner-only, or station.file_group's (inspector.file_modes)
        except OSError as err:  # the parts are still recorded; each image that cannot be written says why
            log.error("store: image folder %s cannot be made: %s", self.image_dir, err)
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise store_error(f"cannot open the store at {database}", err) from err
        try:
            self.db = sqlite_utils.Database(sqlite3.connect(str(database), check_same_thread=False))
            self.db.enable_wal()
            owner_only(database)
            create_recorder_tables(self.db)
        except (OSError, sqlite3.Error) as err:
            if getattr(self, "db", None) is not None:
                self.db.conn.close()  # a store opened again later starts from a fresh connection
                del self.db
            raise store_error(f"cannot open the store at {database}", err) from err
        self.parts = self.db["parts"]

    def record(self, part_rows: Iterable[dict[str, Any]], alarms: Iterable[Alarm] = ()) -> Refused:
        """Write part rows and append alarms, in one transaction; return the rows refused.

        A row with a ``result`` is a decision (:func:`decision_row`), any other
        an inspection record (:func:`inspection_row`): each fills its part's row
        only while that part has none of its kind yet, and only a row of the
        same trigger time (the same part) when the row says its trigger time.
        """
        part_rows = list(part_rows)
        alarm_rows = [to_builtins(a) for a in alarms]
        refused = Refused()
        if not part_rows and not alarm_rows:
            return refused
        try:
            with self.db.conn:
                # rows are written in groups of the same columns (every row of a group sets the same ones)
                for group in _same_columns(part_rows):
                    if "result" in group[0]:
                        refused.decisions += self._insert_once(group, "result")
                    else:
                        refused.inspections += self._insert_once([{**row, "inspected": 1} for row in group], "inspected")
                if alarm_rows:
                    self.db["alarms"].insert_all(alarm_rows)
        except (sqlite3.Error, OverflowError) as err:  # OverflowError: an integer SQLite cannot hold (past 64 bits)
            raise store_error(f"cannot write {len(part_rows)} part row(s) and {len(alarm_rows)} alarm(s)", err) from err
        if refused:
            log.warning("store: %d decision(s) and %d inspection record(s) for parts already recorded were refused",
                        len(refused.decisions), len(refused.inspections))
        return refused

    def _insert_once(self, rows: list[dict[str, Any]], once_column: str) -> list[dict[str, Any]]:
        """Insert or fill each part's row unless it has ``once_column`` already or is another part's; the refused rows.

        A row is another part's when both say their trigger time and the times differ. A decision of a part whose
        trigger time is not known (:data:`TRIGGER_TIME_UNKNOWN`) carries a later part's: it never counts as another
        part's and never replaces a known one, and a row that knows the time replaces it.
        """
        columns = list(rows[0])
        known, unknown = _fill_once_sql(columns, once_column, trigger_known=True), _fill_once_sql(columns, once_column, trigger_known=False)
        refused = []
        for row in rows:
            sql = unknown if row.get("source") == TRIGGER_TIME_UNKNOWN else known
            if self.db.conn.execute(sql, tuple(row[c] for c in columns)).rowcount == 0:
                refused.append(row)
        return refused

    def state(self, name: str) -> float | None:
        try:
            row = self.db.execute("SELECT value FROM recorder_state WHERE name = ?", [name]).fetchone()
        except sqlite3.Error as err:
            raise store_error(f"cannot read the recorder's state {name}", err) from err
        return None if row is None else row[0]

    def set_state(self, name: str, value: float) -> None:
        try:
            with self.db.conn:
                self.db.execute(
                    "INSERT INTO recorder_state VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [name, value]
                )
        except sqlite3.Error as err:
            raise store_error(f"cannot write the recorder's state {name}", err) from err

    def decided(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (camera, part id) keys already have a decision."""
        keys = list(keys)
        found: set[tuple[str, int]] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            where = " OR ".join("(camera = ? AND part_id = ?)" for _ in chunk)
            params = [v for key in chunk for v in key]
            try:
                found.update(self.db.execute(f"SELECT camera, part_id FROM parts WHERE result IS NOT NULL AND ({where})", params).fetchall())
            except sqlite3.Error as err:
                raise store_error("cannot read which parts are recorded", err) from err
        return found

    # -- a made-up history (``inspector report synth``): written as it is, without the once-only checks --------------
    def parts_between(self, start: float, end: float) -> int:
        """How many parts were triggered in [start, end)."""
        return self.db.execute("SELECT count(*) FROM parts WHERE t_trigger >= ? AND t_trigger < ?", [start, end]).fetchone()[0]

    def last_part_id(self, camera: str) -> int:
        """The camera's highest part id (0: none yet)."""
        return self.db.execute("SELECT max(part_id) FROM parts WHERE camera = ?", [camera]).fetchone()[0] or 0

    def load_history(self, columns: tuple[str, ...], part_rows: list[tuple], alarm_rows: list[tuple]) -> None:
        """Part rows (of ``columns``) and alarm rows (of :data:`HISTORY_ALARM_COLUMNS`) in one transaction."""
        with self.db.conn:
            self.db.conn.executemany(f"INSERT INTO parts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", part_rows)
            self.db.conn.executemany(f"INSERT INTO alarms ({', '.join(HISTORY_ALARM_COLUMNS)}) "
                                     f"VALUES ({', '.join('?' * len(HISTORY_ALARM_COLUMNS))})", alarm_rows)

    def image_file(self, camera: str, verdict_result: str, part_id: int) -> Path:
        """Where the image of a part with this verdict is stored."""
        return self.image_dir / camera / verdict_result.lower() / f"{part_id:010d}.png"

    def save_image(self, verdict: Verdict, pixels: np.ndarray) -> str:
        """Write the part's image (PNG) to a new file and return its path; an existing file is never replaced, and a
        file the disk could not take whole is removed."""
        first = self.image_file(verdict.camera, verdict.result, verdict.part_id)
        path = first
        try:
            private_folder(first.parent)
            encoded, png = cv2.imencode(".png", pixels)
        except (OSError, cv2.error) as err:
            raise (store_error(f"cannot write image {path}", err) if isinstance(err, OSError)
                   else StoreError(f"cannot write image {path}: {err}")) from err
        if not encoded:
            raise StoreError(f"cannot write image {first}: PNG encoding failed")
        for attempt in range(MAX_IMAGE_NAME_TRIES):
            path = first if attempt == 0 else first.with_name(f"{first.stem}-{attempt}.png")
            try:
                file = os.fdopen(create_private(path, exclusive=True), "wb")  # exclusive: one there stays as it is
            except FileExistsError:
                continue
            except OSError as err:
                raise store_error(f"cannot write image {path}", err) from err
            try:
                with file:
                    file.write(png.tobytes())
            except OSError as err:
                _remove_partial(path)
                raise store_error(f"cannot write image {path}", err) from err
            return str(path)
        raise StoreError(f"cannot write image {first}: {MAX_IMAGE_NAME_TRIES} files of that part's name exist already")

    def close(self) -> None:
        self.db.conn.close()


def quarantine(database: Path) -> Path:
    """Move a corrupt database (and its WAL files) aside, kept for inspection; return where."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = database.with_name(f"{database.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # a second one within the same second: never over the first
        n += 1
        target = database.with_name(f"{database.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            source.replace(target.with_name(target.name + suffix))
    return target


def _remove_partial(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        log.warning("store: cannot remove the partly written image %s: %s", path, err)


def _fill_once_sql(columns: list[str], once_column: str, trigger_known: bool) -> str:
    updates = [f"{c} = excluded.{c}" for c in columns if c not in PARTS_PK and (trigger_known or c != "t_trigger")]
    same_part = f"parts.{once_column} IS NULL"
    if trigger_known:
        same_part += (" AND (parts.t_trigger IS NULL OR excluded.t_trigger IS NULL OR parts.t_trigger = excluded.t_trigger"
                      f" OR parts.source IS '{TRIGGER_TIME_UNKNOWN}')")
    else:
        updates.append("t_trigger = coalesce(parts.t_trigger, excluded.t_trigger)")
    return (f"INSERT INTO parts ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (camera, part_id) DO UPDATE SET {', '.join(updates)} WHERE {same_part}")


def _same_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their column sets, each group in arrival order."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def decision_row(decision: Decision) -> dict[str, Any]:
    row = {
        "camera": decision.camera,
        "part_id": decision.part_id,
        "station": decision.station,
        "result": decision.result,
        "source": decision.source,
        "t_trigger": decision.t_trigger,
        "t_decided": decision.t_decided,
        "t_plc_written": decision.t_plc_written,
        "t_plc_sent": decision.t_plc_sent,
        "latency_ms": decision.latency_ms,
        "plc_delivered": int(decision.plc_delivered),
        "plc_error": decision.plc_error,
        "decision_seq": decision.seq,
        "plc_seq": decision.plc_seq,
    }
    if decision.verdict is not None:
        row.update(verdict_columns(decision.verdict))
    return row


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict_result": verdict.result,
        "t_verdict": verdict.t_verdict,
        "model_version": verdict.model_version,
        "first_on_model": verdict.first_on_model,
        "detections": json.dumps(to_builtins(verdict.detections)),
        "timings_ms": json.dumps(verdict.timings_ms),
        "reason": verdict.reason,
        "frame_source": verdict.source,
    }


def inspection_row(verdict: Verdict, image_path: str | None = None) -> dict[str, Any]:
    """The row of a detector's inspection record: its verdict, and its image when one was stored."""
    row = {"camera": verdict.camera, "part_id": verdict.part_id, "t_trigger": verdict.t_trigger, "inspected": 1,
           **verdict_columns(verdict)}
    if image_path is not None:
        row["image_path"] = image_path
    return row

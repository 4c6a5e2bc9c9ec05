"""The drift measures over time, for the HMI's trend plots: ``drift.db`` beside the recorder's database.

The detector's :class:`~inspector.modelops.drift.DriftMonitor` works in memory;
every ``drift.series_every_parts`` parts per camera the detector appends the
measures it has then (brightness shift, contrast change, score PSI, reject-rate
change, latency increase: the values compared with the ``drift.max_*`` limits)
to this small SQLite file, after the verdict has been sent. Only the latest
``drift.series_points`` points per camera are kept. A write that fails is
logged and the line goes on: the series is for people, never for decisions.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from inspector.config.schema import Config, DriftConfig
from inspector.errors import InspectorError
from inspector.file_modes import owner_only
from inspector.records.readonly import open_readonly

log = logging.getLogger(__name__)

FILE = "drift.db"
MEASURES = ("brightness", "contrast", "scores", "reject_rate", "latency")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS drift_points (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL, t REAL NOT NULL,
    brightness REAL, contrast REAL, scores REAL, reject_rate REAL, latency REAL
);
CREATE INDEX IF NOT EXISTS drift_points_camera_t ON drift_points (camera, t);
"""


def drift_series_path(config: Config) -> Path:
    return Path(config.recorder.database).with_name(FILE)


def drift_limits(config: DriftConfig) -> dict[str, float]:
    """Each measure's alarm limit (the one table the plots draw their limit lines from)."""
    return {"brightness": config.max_brightness_shift, "contrast": config.max_contrast_change,
            "scores": config.max_score_psi, "reject_rate": config.max_reject_rate_change,
            "latency": config.max_latency_increase}


@dataclass(frozen=True)
class DriftPoint:
    camera: str
    part_id: int
    t: float
    values: dict[str, float | None]  # measure -> value (None: not measured yet at that part)


class DriftSeriesWriter:
    """In the detector: appends a point every ``every`` parts per camera (nothing when ``every`` is 0)."""

    def __init__(self, path: Path, every: int, keep: int) -> None:
        self.path = Path(path)
        self.every = every
        self.keep = keep
        self.seen: dict[str, int] = defaultdict(int)
        self.written: dict[str, int] = defaultdict(int)
        self.db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self.db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=1, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            owner_only(self.path)
        return self.db

    def add(self, camera: str, part_id: int, measures: dict[str, float], t: float | None = None) -> bool:
        """Count a decided part; on every ``every``-th with measures, store them. Returns whether a point was stored."""
        if self.every <= 0:
            return False
        self.seen[camera] += 1
        if self.seen[camera] % self.every or not measures:
            return False
        try:
            db = self._open()
            db.execute("INSERT INTO drift_points VALUES (?,?,?,?,?,?,?,?)",
                       (camera, part_id, time.time() if t is None else t, *(measures.get(m) for m in MEASURES)))
            self.written[camera] += 1
            if self.written[camera] % 100 == 0:
                db.execute("DELETE FROM drift_points WHERE camera = ? AND rowid NOT IN "
                           "(SELECT rowid FROM drift_points WHERE camera = ? ORDER BY t DESC LIMIT ?)", (camera, camera, self.keep))
        except (sqlite3.Error, OSError) as err:
            log.warning("drift series %s: point of part %d not stored: %s", self.path, part_id, err)
            return False
        return True

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def read_drift_series(path: Path, since: float | None = None, limit: int = 2000) -> dict[str, list[DriftPoint]]:
    """Per camera, its latest points (oldest first); empty when the detector kept no series yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        db = open_readonly(path, 5)
        try:
            rows = db.execute(
                "SELECT * FROM (SELECT camera, part_id, t, " + ", ".join(MEASURES) + " FROM drift_points WHERE t >= ? "
                "ORDER BY t DESC LIMIT ?) ORDER BY camera, t", (since or 0.0, limit)).fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise InspectorError(f"cannot read the drift series {path}: {err}") from err
    series: dict[str, list[DriftPoint]] = {}
    for camera, part_id, t, *values in rows:
        series.setdefault(camera, []).append(DriftPoint(camera, part_id, t, dict(zip(MEASURES, values))))
    return series

"""The SQLite record of one shadow run (``<run folder>/shadow.db``), and what a review screen reads from it.

Written by the detector's shadow worker only: every compared part with both
decisions and scores; for a disagreement also both reasons and the image.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import cv2
import numpy as np

from inspector.engine.decision_rules import Judgement
from inspector.messages import FrameHeader

DATABASE = "shadow.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parts (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL, t REAL NOT NULL,
    production_rejects INTEGER NOT NULL, candidate_rejects INTEGER NOT NULL,
    production_score REAL, candidate_score REAL,
    production_reason TEXT NOT NULL, candidate_reason TEXT NOT NULL, image_path TEXT,
    PRIMARY KEY (camera, part_id)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ShadowRecord:
    """The SQLite record of one shadow run (written by the detector's shadow worker only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(folder / DATABASE), timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def add(self, header: FrameHeader, frame: np.ndarray, production: Judgement, candidate: Judgement,
            production_reason: str, candidate_reason: str) -> None:
        image = None
        if production.rejected != candidate.rejected:
            path = self.folder / "images" / f"{header.camera}-{header.part_id:010d}.png"
            path.parent.mkdir(exist_ok=True)
            cv2.imwrite(str(path), frame)
            image = str(path)
        self.db.execute(
            "INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?,?,?,?,?)",
            (header.camera, header.part_id, time.time(), int(production.rejected), int(candidate.rejected),
             _finite(production.part_score), _finite(candidate.part_score), production_reason, candidate_reason, image),
        )

    def count_skipped(self, n: int) -> None:
        self.db.execute("INSERT INTO counters VALUES ('skipped', ?) ON CONFLICT(name) DO UPDATE SET value = value + ?", (n, n))

    def compared(self) -> int:
        return self.db.execute("SELECT count(*) FROM parts").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# -- reading a run (CLI, review screen) -----------------------------------------------------------
def shadow_summary(folder: Path) -> dict:
    """Counts of a shadow run: compared, agreed, disagreements both ways, reject rates, skipped frames."""
    db = sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT production_rejects, candidate_rejects FROM parts").fetchall()
        skipped = db.execute("SELECT value FROM counters WHERE name = 'skipped'").fetchone()
    finally:
        db.close()
    compared = len(rows)
    only_production = sum(1 for p, c in rows if p and not c)
    only_candidate = sum(1 for p, c in rows if c and not p)
    return {
        "compared": compared,
        "agreed": compared - only_production - only_candidate,
        "candidate_passes_production_rejects": only_production,
        "candidate_rejects_production_passes": only_candidate,
        "production_reject_rate": (sum(p for p, _ in rows) / compared) if compared else None,
        "candidate_reject_rate": (sum(c for _, c in rows) / compared) if compared else None,
        "skipped": skipped[0] if skipped else 0,
    }


def disagreements(folder: Path) -> list[dict]:
    """Every part the candidate decided otherwise than production: both decisions, reasons, scores and the image."""
    db = sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(
            "SELECT * FROM parts WHERE production_rejects != candidate_rejects ORDER BY t")]
    finally:
        db.close()

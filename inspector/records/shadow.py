"""A shadow run's comparisons: production's and the candidate's decision on each part, one SQLite file per run.

The file is ``<registry>/shadow/<run>/shadow.db`` (:mod:`inspector.modelops.shadow`
orders the runs, writes the images and the report). Its table ``parts`` is
the run's compared parts, not the recorder's ``parts`` table of the station
database. Written by the detector's shadow worker only
(:class:`ShadowComparisons`); read by the CLI, the review screen and the
bench (the functions below, read-only).
"""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass
from pathlib import Path

from inspector.records.readonly import reading

SHADOW_DB = "shadow.db"

_SCHEMA = """
-- the shadow run's compared parts (not the recorder's parts table)
CREATE TABLE IF NOT EXISTS parts (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL, t REAL NOT NULL,
    production_rejects INTEGER NOT NULL, candidate_rejects INTEGER NOT NULL,
    production_score REAL, candidate_score REAL,
    production_reason TEXT NOT NULL, candidate_reason TEXT NOT NULL, image_path TEXT,
    PRIMARY KEY (camera, part_id)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Comparison:
    camera: str
    part_id: int
    t: float
    production_rejects: int  # 1: production rejected the part
    candidate_rejects: int
    production_score: float | None  # None: not a finite score
    candidate_score: float | None
    production_reason: str
    candidate_reason: str
    image_path: str | None  # the frame, kept when the two disagree


class ShadowComparisons:
    """The writer of one run's file (the shadow worker's thread)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def add(self, comparison: Comparison) -> None:
        self.db.execute("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?,?,?,?,?)", astuple(comparison))

    def count_skipped(self, n: int) -> None:
        self.db.execute("INSERT INTO counters VALUES ('skipped', ?) ON CONFLICT(name) DO UPDATE SET value = value + ?", (n, n))

    def compared(self) -> int:
        return self.db.execute("SELECT count(*) FROM parts").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def decisions(path: Path) -> tuple[list[tuple[int, int]], int]:
    """(production_rejects, candidate_rejects) of every compared part, and how many frames were skipped."""
    with reading(path, 5) as db:
        rows = db.execute("SELECT production_rejects, candidate_rejects FROM parts").fetchall()
        skipped = db.execute("SELECT value FROM counters WHERE name = 'skipped'").fetchone()
    return rows, skipped[0] if skipped else 0


def disagreements(path: Path) -> list[dict]:
    """Every compared part the two decided differently, in time order (every column)."""
    with reading(path, 5, rows=True) as db:
        return [dict(r) for r in db.execute("SELECT * FROM parts WHERE production_rejects != candidate_rejects ORDER BY t")]

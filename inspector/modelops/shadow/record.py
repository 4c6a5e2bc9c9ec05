"""The record of one shadow run: its comparisons (``<run folder>/shadow.db``, owned by
:mod:`inspector.records.shadow`), the frames of its disagreements, and the counts a review screen reads.

Written by the detector's shadow worker only: every compared part with both
decisions and scores; for a disagreement also both reasons and the image.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from inspector.engine.decision_rules import Judgement
from inspector.messages import FrameHeader
from inspector.records.shadow import SHADOW_DB, Comparison, ShadowComparisons, decisions
from inspector.records.shadow import disagreements as compared_differently

DATABASE = SHADOW_DB

class ShadowRecord:
    """The record of one shadow run (written by the detector's shadow worker only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.comparisons = ShadowComparisons(folder / SHADOW_DB)

    def add(self, header: FrameHeader, frame: np.ndarray, production: Judgement, candidate: Judgement,
            production_reason: str, candidate_reason: str) -> None:
        image = None
        if production.rejected != candidate.rejected:
            path = self.folder / "images" / f"{header.camera}-{header.part_id:010d}.png"
            path.parent.mkdir(exist_ok=True)
            cv2.imwrite(str(path), frame)
            image = str(path)
        self.comparisons.add(Comparison(
            header.camera, header.part_id, time.time(), int(production.rejected), int(candidate.rejected),
            _finite(production.part_score), _finite(candidate.part_score), production_reason, candidate_reason, image,
        ))

    def count_skipped(self, n: int) -> None:
        self.comparisons.count_skipped(n)

    def compared(self) -> int:
        return self.comparisons.compared()

    def close(self) -> None:
        self.comparisons.close()

def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

# -- reading a run (CLI, review screen) -----------------------------------------------------------
def shadow_summary(folder: Path) -> dict:
    """Counts of a shadow run: compared, agreed, disagreements both ways, reject rates, skipped frames."""
    rows, skipped = decisions(folder / SHADOW_DB)
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
        "skipped": skipped,
    }

def disagreements(folder: Path) -> list[dict]:
    """Every part the candidate decided otherwise than production: both decisions, reasons, scores and the image."""
    return compared_differently(folder / SHADOW_DB)

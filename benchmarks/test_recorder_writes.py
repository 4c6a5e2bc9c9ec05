"""The recorder's writes: part rows into SQLite (WAL, upserts) and reject images into the image store.

    .venv/bin/pytest benchmarks/test_recorder_writes.py --benchmark-only
"""

from __future__ import annotations

import itertools
import time

import pytest

from inspector.messages import Decision, Detection, Verdict
from inspector.records.store import Store, decision_row
from inspector.synthetic import PartGenerator

_ids = itertools.count(1)


def _decision(part_id: int) -> Decision:
    now = time.time()
    verdict = Verdict(
        station="bench", camera="top", part_id=part_id, seq=part_id, result="REJECT", t_trigger=now, t_verdict=now,
        model_version="m@1", detections=[Detection("scratch", 0.9, (10.0, 10.0, 50.0, 40.0), 1200.0, True)],
        timings_ms={"preprocess": 0.3, "inference": 20.0, "postprocess": 0.4},
    )
    return Decision("bench", "top", part_id, part_id, "REJECT", "verdict", now, now, True, now, verdict=verdict)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "inspector.db", tmp_path / "images")
    yield s
    s.close()


@pytest.mark.parametrize("batch", [1, 50], ids=["one-part", "batch-of-50"])
def test_part_rows(benchmark, store, batch):
    def write():
        store.record([decision_row(_decision(next(_ids))) for _ in range(batch)])

    benchmark(write)
    assert store.parts.count >= batch


def test_reject_image(benchmark, store):
    image = PartGenerator(seed=3, defect_rate=1.0).part(0).image
    decision = _decision(next(_ids))
    path = benchmark(store.save_image, decision.verdict, image)
    assert path.endswith(".png")

"""Pre-processing, decoding and NMS on their own, without a model, at sizes a real line sees.

    .venv/bin/pytest benchmarks/test_engine_kernels.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

from inspector.engine.letterbox import Letterbox
from inspector.engine.yolo_decode import decode_yolo, nms

INPUT_HW = (320, 320)
CLASSES = 5
ANCHORS = 2100


@pytest.mark.parametrize(
    "shape",
    [(480, 640), (2048, 2448), (1024, 1280, 3)],
    ids=["mono-640x480", "mono-5MP", "bgr-1280x1024"],
)
def test_letterbox(benchmark, shape):
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    letterbox = Letterbox(INPUT_HW)
    letterbox(frame)  # first call sizes the buffers; the line pays it once per frame shape
    tensor = benchmark(letterbox, frame)
    assert tensor is letterbox.tensor  # reused, never reallocated


def _raw_output(candidates: int, seed: int = 0) -> np.ndarray:
    """A ``1 x (4 + C) x N`` output with ``candidates`` anchors above the confidence floor, clustered like real ones."""
    rng = np.random.default_rng(seed)
    out = np.zeros((1, 4 + CLASSES, ANCHORS), np.float32)
    centres = rng.uniform(20, 300, (max(candidates // 10, 1), 2))
    idx = rng.choice(ANCHORS, candidates, replace=False)
    picked = centres[rng.integers(len(centres), size=candidates)] + rng.normal(0, 3, (candidates, 2))
    out[0, 0, idx], out[0, 1, idx] = picked[:, 0], picked[:, 1]
    out[0, 2, idx] = rng.uniform(10, 40, candidates)
    out[0, 3, idx] = rng.uniform(10, 40, candidates)
    out[0, 4 + rng.integers(CLASSES, size=candidates), idx] = rng.uniform(0.3, 0.95, candidates)
    return out


@pytest.mark.parametrize("candidates", [0, 20, 300], ids=["good-part", "defect", "dense"])
def test_decode_and_nms(benchmark, candidates):
    output = _raw_output(candidates)
    result = benchmark(decode_yolo, output, 0.25, 0.7)
    assert len(result) <= candidates


def test_nms_1000_boxes(benchmark):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (1000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (1000, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0.25, 1, 1000).astype(np.float32)
    kept = benchmark(nms, boxes, scores, 0.7)
    assert 0 < len(kept) <= 1000

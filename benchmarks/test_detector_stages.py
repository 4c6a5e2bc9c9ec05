"""Per-stage cost of the detector's hot path on one 640x480 mono frame.

    .venv/bin/pytest benchmarks/test_detector_stages.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.detector import DefectDetector
from inspector.engine.yolo_decode import decode_yolo
from inspector.synthetic import PartGenerator


@pytest.fixture(scope="module")
def detector() -> DefectDetector:
    engine = DefectDetector(load_config(DEFAULT_CONFIG).detector)
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return PartGenerator(seed=11, defect_rate=1.0).part(0).image


def test_preprocess_letterbox(benchmark, detector, frame):
    benchmark(detector.family.letterbox, frame)


def test_inference_session_run(benchmark, detector, frame):
    tensor = detector.model_inputs(frame)[0]
    session = detector.runtime.session
    benchmark(session.run, None, {detector.runtime.input_name: tensor})


def test_decode_and_nms(benchmark, detector, frame):
    (output,) = detector.runtime.session.run(None, {detector.runtime.input_name: detector.model_inputs(frame)[0]})
    benchmark(decode_yolo, output, detector.config.families.yolo.min_confidence, detector.config.families.yolo.iou_threshold)


def test_whole_inspection(benchmark, detector, frame):
    benchmark(detector.inspect, frame)

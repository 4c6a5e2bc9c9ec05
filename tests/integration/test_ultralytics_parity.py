"""The line's engine sees what ultralytics' own predict sees, for the same ONNX model and images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import ultralytics

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.detector import DefectDetector
from inspector.engine.yolo_decode import box_iou
from inspector.synthetic import PartGenerator

PARTS = 24


@pytest.fixture(scope="module")
def engine() -> DefectDetector:
    config = load_config(DEFAULT_CONFIG).detector
    return DefectDetector(config)


def test_engine_boxes_and_verdicts_match_ultralytics_predict(engine):
    generator = PartGenerator(seed=7, defect_rate=0.7)
    frames = [generator.part(i).image for i in range(PARTS)]
    model = ultralytics.YOLO(str(engine.package.onnx_path), task="detect")
    theirs = model.predict(
        [cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in frames],
        imgsz=engine.package.metadata.input_size[0],
        conf=engine.config.families.yolo.min_confidence,
        iou=engine.config.families.yolo.iou_threshold,
        verbose=False,
    )
    thresholds = dict(zip(engine.rules.classes, engine.rules.thresholds))
    compared = 0
    for frame, result in zip(frames, theirs):
        ours = engine.inspect(frame).detections
        their_boxes = result.boxes.xyxy.numpy()
        their_classes = [result.names[int(c)] for c in result.boxes.cls.numpy()]
        their_scores = result.boxes.conf.numpy()
        assert len(ours) == len(their_boxes)
        if not ours:
            continue
        iou = box_iou(their_boxes, np.array([d.box for d in ours]))
        for i, cls in enumerate(their_classes):
            j = int(iou[i].argmax())
            assert iou[i, j] >= 0.9, f"ultralytics box {their_boxes[i]} has no match in ours"
            assert ours[j].cls == cls
            assert ours[j].score == pytest.approx(float(their_scores[i]), abs=0.01)
            compared += 1
        their_reject = any(s >= thresholds[c] for c, s in zip(their_classes, their_scores))
        assert their_reject == any(d.causes_reject for d in ours)
    assert compared >= 10, "too few detections to compare: is the model trained?"

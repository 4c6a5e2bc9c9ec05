"""The same frames through ultralytics' ``YOLO(model).predict``: how a prototype does it.

Both sides get the same ONNX model, the same frames and the same confidence
and IoU thresholds; each side is timed around one call per frame (the
prototype's grey-to-BGR conversion is done beforehand, outside its timing,
as a prototype reading image files would get BGR frames). They run in
alternating blocks, so load drift affects both alike.
"""

from __future__ import annotations

import logging
import os
import time

import cv2
import numpy as np

from inspector.bench.stats import percentiles
from inspector.engine.detector import DefectDetector
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

BLOCK = 10


def _yolo(model_path: str):
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
    except ImportError as err:
        raise InspectorError("the prototype comparison needs ultralytics: pip install -e '.[train]'") from err
    return YOLO(model_path, task="detect")


def compare_with_ultralytics(engine: DefectDetector, frames: list[np.ndarray], count: int, warmup: int = 10) -> dict:
    """Wall-clock per frame of ``engine.inspect`` and of ultralytics' predict, and their ratio (YOLO models only)."""
    family = engine.package.metadata.family
    if family != "yolo":
        raise InspectorError(f"the comparison with ultralytics' predict is for YOLO models; the station's model is a {family} model")
    model = _yolo(str(engine.package.onnx_path))
    kwargs = {
        "imgsz": list(engine.package.metadata.input_size),
        "conf": engine.config.families.yolo.min_confidence,
        "iou": engine.config.families.yolo.iou_threshold,
        "verbose": False,
    }
    bgr = [cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) if f.ndim == 2 else f for f in frames]
    for i in range(warmup):
        engine.inspect(frames[i % len(frames)])
        model.predict(bgr[i % len(bgr)], **kwargs)
    ours: list[float] = []
    theirs: list[float] = []
    their_stages: dict[str, list[float]] = {}
    detections = {"inspector": 0, "ultralytics": 0}
    done = 0
    while done < count:
        block = range(done, min(done + BLOCK, count))
        for i in block:
            t0 = time.perf_counter()
            result = engine.inspect(frames[i % len(frames)])
            ours.append((time.perf_counter() - t0) * 1000)
            detections["inspector"] += len(result.detections)
        for i in block:
            t0 = time.perf_counter()
            (res,) = model.predict(bgr[i % len(bgr)], **kwargs)
            theirs.append((time.perf_counter() - t0) * 1000)
            detections["ultralytics"] += len(res.boxes)
            for stage, ms in res.speed.items():
                their_stages.setdefault(stage, []).append(ms)
        done = block.stop
    ours_p, theirs_p = percentiles(ours), percentiles(theirs)
    return {
        "frames": count,
        "inspector_providers": engine.providers,
        "inspector_detector_ms": ours_p,
        "ultralytics_predict_ms": theirs_p,
        "ultralytics_own_stage_ms": {k: percentiles(v) for k, v in their_stages.items()},
        "detections": detections,
        "ratio_p50": round(ours_p["p50"] / theirs_p["p50"], 3),
        "samples_ms": {"inspector": ours, "ultralytics": theirs},
    }

"""Thin, offline wrapper around ultralytics for training and ONNX export.

ultralytics, torch and onnx are the ``train`` extra; they are imported here,
lazily, so the appliance (which serves models with ONNX Runtime) never needs
them. Nothing is downloaded: models start from a model YAML and
``YOLO_OFFLINE`` is forced on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError

log = logging.getLogger(__name__)


class TrainingError(InspectorError):
    """Training or export could not run (missing extra, bad data, failed run)."""


def _yolo_class() -> Any:
    os.environ["YOLO_OFFLINE"] = "1"
    try:
        from ultralytics import YOLO
    except ImportError as err:
        raise TrainingError(
            "training needs the 'train' extra (pip install 'inspector[train]')"
        ) from err
    return YOLO


@dataclass(frozen=True)
class TrainSettings:
    """What a training run is made from; recorded in the model's metadata."""

    model_yaml: str = "yolov8n.yaml"
    imgsz: int = 320
    epochs: int = 30
    batch: int = 16
    seed: int = 0
    workers: int = 2
    device: str = "cpu"
    close_mosaic: int = 5


def train(data_yaml: Path, run_dir: Path, settings: TrainSettings, resume: bool = False) -> Path:
    """Train from the model YAML; return the path of the best checkpoint."""
    YOLO = _yolo_class()
    last = run_dir / "train" / "weights" / "last.pt"
    if resume and last.exists():
        log.info("resuming training from %s", last)
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        model = YOLO(settings.model_yaml)
        model.train(
            data=str(data_yaml),
            imgsz=settings.imgsz,
            epochs=settings.epochs,
            batch=settings.batch,
            seed=settings.seed,
            deterministic=True,
            workers=settings.workers,
            device=settings.device,
            close_mosaic=settings.close_mosaic,
            project=str(run_dir),
            name="train",
            exist_ok=True,
            plots=False,
            amp=False,
            verbose=False,
        )
    best = run_dir / "train" / "weights" / "best.pt"
    if not best.exists():
        raise TrainingError(f"training finished without a checkpoint at {best}")
    return best


def export_onnx(checkpoint: Path, imgsz: int) -> Path:
    """Export a checkpoint to ONNX (static shape, batch 1, simplified)."""
    YOLO = _yolo_class()
    model = YOLO(str(checkpoint))
    out = model.export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False, opset=17)
    return Path(out)

"""Thin, offline wrapper around ultralytics for training and ONNX export.

ultralytics, torch and onnx are the ``train`` extra; they are imported here,
lazily, so the appliance (which serves models with ONNX Runtime) never needs
them. Nothing is downloaded: models start from a model YAML and
``YOLO_OFFLINE`` is forced on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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
    patience: int = 100  # epochs without improvement of validation fitness before stopping early
    overrides: dict[str, Any] = field(default_factory=dict)  # further ultralytics train arguments (augmentation...)


# set by Inspector (from TrainSettings, or because the default is harmful offline): not overridable from a run config
RESERVED_TRAIN_ARGS = frozenset({
    "data", "project", "name", "exist_ok", "resume", "model", "plots", "amp", "pretrained", "imgsz", "epochs", "batch",
    "seed", "deterministic", "workers", "device", "close_mosaic", "patience", "verbose",
})


def resolve_device(device: str) -> str:
    """``auto`` becomes the first CUDA GPU when torch sees one, else ``cpu``; anything else is passed on."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "train" / "weights"


def _add_callbacks(model: Any, callbacks: dict[str, list[Callable[[Any], None]]] | None) -> None:
    for event, functions in (callbacks or {}).items():
        for function in functions:
            model.add_callback(event, function)


def train(
    data_yaml: Path,
    run_dir: Path,
    settings: TrainSettings,
    resume: bool = False,
    verbose: bool = False,
    callbacks: dict[str, list[Callable[[Any], None]]] | None = None,
) -> Path:
    """Train from the model YAML; return the path of the best checkpoint.

    With ``resume`` an interrupted run continues from ``run_dir/train/weights/last.pt``
    (ultralytics restores its own settings, optimiser state and epoch).
    ``verbose`` shows ultralytics' per-class validation tables; ``callbacks`` are
    ultralytics callbacks by event name (``on_fit_epoch_end``...), given the trainer.
    """
    YOLO = _yolo_class()
    reserved = sorted(RESERVED_TRAIN_ARGS & set(settings.overrides))
    if reserved:
        raise TrainingError(f"training override {reserved[0]!r} is set by Inspector and cannot be overridden")
    last = checkpoint_dir(run_dir) / "last.pt"
    try:
        if resume and last.exists():
            log.info("resuming training from %s", last)
            model = YOLO(str(last))
            _add_callbacks(model, callbacks)
            model.train(resume=True, data=str(data_yaml))
        else:
            if resume:
                log.warning("nothing to resume in %s: starting a new training run", run_dir)
            model = YOLO(settings.model_yaml)
            _add_callbacks(model, callbacks)
            args = dict(
                data=str(data_yaml),
                imgsz=settings.imgsz,
                epochs=settings.epochs,
                batch=settings.batch,
                seed=settings.seed,
                deterministic=True,
                workers=settings.workers,
                device=resolve_device(settings.device),
                close_mosaic=settings.close_mosaic,
                patience=settings.patience,
                verbose=verbose,
            )
            args.update(settings.overrides)
            model.train(
                **args,
                project=str(run_dir),
                name="train",
                exist_ok=True,
                plots=False,  # plots fetch a font from the internet
                amp=False,  # the AMP check fetches a model from the internet
            )
    except (FileNotFoundError, RuntimeError, ValueError, SyntaxError, AssertionError, KeyError) as err:
        raise TrainingError(f"training in {run_dir} failed: {err}") from err
    best = checkpoint_dir(run_dir) / "best.pt"
    if not best.exists():
        raise TrainingError(f"training finished without a checkpoint at {best}")
    return best


def export_onnx(checkpoint: Path, imgsz: int) -> Path:
    """Export a checkpoint to ONNX (static shape, batch 1, simplified)."""
    YOLO = _yolo_class()
    if not checkpoint.is_file():
        raise TrainingError(f"checkpoint {checkpoint} does not exist")
    try:
        model = YOLO(str(checkpoint))
        out = model.export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False, opset=17)
    except (RuntimeError, ValueError, ImportError, AssertionError) as err:
        raise TrainingError(f"ONNX export of {checkpoint} failed: {err}") from err
    return Path(out)

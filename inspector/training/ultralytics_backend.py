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
from typing import Any, Callable

from inspector.errors import TrainingError
from inspector.typed import spec

log = logging.getLogger(__name__)


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
class YoloSettings:
    """A YOLO training run's settings: the run config's keys for ``family: yolo`` (recorded in the model's metadata)."""

    model: str = spec("yolov8n.yaml", doc="ultralytics model YAML to build the network from (no weights are downloaded).")
    imgsz: int = spec(320, doc="Square training and inference input size in pixels (a multiple of 32).", minimum=32)
    epochs: int = spec(30, doc="Training epochs.", minimum=1)
    batch: int = spec(16, doc="Images per batch.", minimum=1)
    device: str = spec("auto", doc="'cpu', a CUDA device index such as '0', or 'auto' (a GPU when torch sees one).")
    workers: int = spec(2, doc="Data-loader worker processes.", minimum=0)
    seed: int = spec(0, doc="Random seed (training is run deterministically).")
    patience: int = spec(100, doc="Stop after this many epochs without improvement on the val split.", minimum=1)
    close_mosaic: int = spec(5, doc="Turn mosaic augmentation off for the last N epochs.", minimum=0)
    good_image_fraction: float = spec(
        1.0,
        doc="Share of the train split's good images (no defect box) that training sees; the same images every epoch, "
        "chosen by the seed. Below 1 each epoch is shorter and weighted towards defects; val and test are untouched.",
        minimum=0.0,
        maximum=1.0,
    )
    overrides: dict[str, Any] = spec(
        factory=dict, doc="Further ultralytics training arguments, e.g. {fliplr: 0.5, flipud: 0.5, degrees: 10}."
    )


# set by Inspector (from YoloSettings, or because the default is harmful offline): not overridable from a run config
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
    settings: YoloSettings,
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
            model = YOLO(settings.model)
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

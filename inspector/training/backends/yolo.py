"""Training backend of the YOLO family: ultralytics from a model YAML, offline.

The run folder holds ultralytics' own output (``train/weights/best.pt``,
``last.pt``, ``results.csv``) and the ``data.yaml`` it trained from (with the
run's own ``train.txt`` when ``good_image_fraction`` is below 1).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from inspector.datasets_tool import Dataset, hash_uniform
from inspector.errors import ConfigError, TrainingError
from inspector.training.backends.base import ExportedGraph, Progress, ProgressCallback, TrainingBackend
from inspector.training.backends.registry import register_backend
from inspector.training.ultralytics_backend import (
    RESERVED_TRAIN_ARGS,
    YoloSettings,
    export_onnx,
    resolve_device,
    train,
)

log = logging.getLogger(__name__)


def training_images(dataset: Dataset, good_fraction: float, seed: int) -> list[Path]:
    """The train split's trainable images, keeping ``good_fraction`` of the good ones (chosen by ``seed``)."""
    listed = dataset.root / "train.txt"
    try:
        lines = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise TrainingError(f"cannot read the dataset's {listed}: {err.strerror}") from err
    boxed = {image.path.resolve() for image in dataset.images if image.boxes}
    paths = [(dataset.root / line).resolve() for line in lines]
    return [p for p in paths if p in boxed or hash_uniform(str(p.relative_to(dataset.root.resolve())), seed) < good_fraction]


def training_data_yaml(dataset: Dataset, run_dir: Path, good_fraction: float, seed: int) -> Path:
    """The dataset's data.yaml with ``path`` pointing at where the dataset is now.

    Below a ``good_fraction`` of 1 the train list is the run's own ``train.txt``.
    """
    try:
        data = yaml.safe_load(dataset.data_yaml.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise TrainingError(f"cannot read the dataset's {dataset.data_yaml}: {err}") from err
    data["path"] = str(dataset.root.resolve())
    if good_fraction < 1.0:
        images = training_images(dataset, good_fraction, seed)
        if not images:
            raise TrainingError(f"no training image is left with good_image_fraction {good_fraction}")
        (run_dir / "train.txt").write_text("".join(f"{p}\n" for p in images))
        data["train"] = str((run_dir / "train.txt").resolve())
        log.info("training on %d of the train split's images (good_image_fraction %.2f)", len(images), good_fraction)
    out = run_dir / "data.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


class EpochReporter:
    """Turns ultralytics' epoch callbacks into progress lines: "epoch 12/38: validation fitness ...".

    Ultralytics calls ``on_fit_epoch_end`` once more after the last epoch, for the final validation of
    ``best.pt``, with its epoch counter raised by one (it would read "epoch 39/38", or "22/38" after an
    early stop). That call follows no ``on_train_epoch_end`` of its own, which is how it is told apart.
    """

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self._trained_epoch: int | None = None

    def trained(self, trainer: Any) -> None:
        self._trained_epoch = trainer.epoch

    def validated(self, trainer: Any) -> None:
        fitness = trainer.fitness if trainer.fitness is not None else float("nan")
        if trainer.epoch != self._trained_epoch:
            log.info("final validation of the best epoch: validation fitness %.4g", fitness)
            return
        self.progress(Progress(trainer.epoch + 1, trainer.epochs, "epoch", {"validation fitness": fitness}))


@register_backend
class YoloBackend(TrainingBackend):
    family = "yolo"
    settings_type = YoloSettings

    def check(self, settings: YoloSettings) -> None:
        if settings.imgsz % 32:
            raise ConfigError("imgsz", f"must be a multiple of 32 (the network's stride), got {settings.imgsz}")
        for key in sorted(settings.overrides):
            if key in RESERVED_TRAIN_ARGS:
                raise ConfigError(f"overrides.{key}", "is set by Inspector (use the run config's own field, if it has one)")
        try:
            from ultralytics.cfg import DEFAULT_CFG_DICT
        except ImportError:  # training itself will say that the 'train' extra is missing
            return
        unknown = sorted(set(settings.overrides) - set(DEFAULT_CFG_DICT))
        if unknown:
            raise ConfigError(f"overrides.{unknown[0]}", "is not an ultralytics training argument")

    def device(self, settings: YoloSettings) -> str:
        return resolve_device(settings.device)

    def train(self, dataset: Dataset, run_dir: Path, settings: YoloSettings, resume: bool, progress: ProgressCallback) -> Path:
        if not any(image.boxes for image in dataset.split("train")):
            raise TrainingError(f"dataset {dataset.version} has no labelled defect box in its train split: a detector has nothing to learn")
        data_yaml = training_data_yaml(dataset, run_dir, settings.good_image_fraction, settings.seed)

        reporter = EpochReporter(progress)
        callbacks = {"on_train_epoch_end": [reporter.trained], "on_fit_epoch_end": [reporter.validated]}
        return train(data_yaml, run_dir, settings, resume=resume, verbose=True, callbacks=callbacks)

    def export(self, checkpoint: Path, settings: YoloSettings, dataset: Dataset, onnx_path: Path) -> ExportedGraph:
        import shutil

        shutil.copyfile(export_onnx(checkpoint, settings.imgsz), onnx_path)
        return ExportedGraph(list(dataset.classes), (settings.imgsz, settings.imgsz), {}, Path(settings.model).stem)

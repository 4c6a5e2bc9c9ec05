"""A training run: a typed run config in, a run folder out.

The run folder holds ultralytics' own output (``train/weights/best.pt``,
``last.pt``, ``results.csv``), the ``data.yaml`` it trained from, and
``run.json``: the dataset version, the settings and how long training took,
which ``inspector export`` reads to build the model package.

A run config (YAML; every key is a :class:`TrainRunConfig` field, unknown keys
are refused; relative paths are taken from the config file's folder)::

    data: ../datasets/magnetic_tile      # dataset folder (inspector dataset import, or the HMI's export)
    run_dir: ../runs/magnetic_tile
    model: yolov8n.yaml
    imgsz: 640
    epochs: 60
    batch: 8
    device: auto                         # cpu, 0 (first GPU), auto
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from inspector.datasets_tool import Dataset, hash_uniform, load_dataset
from inspector.errors import ConfigError
from inspector.training.ultralytics_backend import (
    RESERVED_TRAIN_ARGS,
    TrainingError,
    TrainSettings,
    checkpoint_dir,
    resolve_device,
    train,
)
from inspector.typed import FieldProblem, from_dict, spec, to_dict

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


@dataclass(frozen=True)
class TrainRunConfig:
    data: str = spec(doc="Dataset folder written by 'inspector dataset import' or by the HMI's export.")
    run_dir: str = spec(doc="Run folder: weights, ultralytics' logs and run.json are written here.")
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

    def settings(self) -> TrainSettings:
        return TrainSettings(
            model_yaml=self.model, imgsz=self.imgsz, epochs=self.epochs, batch=self.batch, seed=self.seed,
            workers=self.workers, device=self.device, close_mosaic=self.close_mosaic, patience=self.patience,
            overrides=dict(self.overrides),
        )


def run_config_from_dict(data: Any, base_dir: Path) -> TrainRunConfig:
    """Validate a run config; relative ``data`` and ``run_dir`` are taken from ``base_dir``."""
    try:
        config = from_dict(TrainRunConfig, data)
    except FieldProblem as err:
        raise ConfigError(err.path, err.problem) from err
    if config.imgsz % 32:
        raise ConfigError("imgsz", f"must be a multiple of 32 (the network's stride), got {config.imgsz}")
    _check_overrides(config.overrides)
    return dataclasses.replace(
        config, data=str((base_dir / config.data).resolve()), run_dir=str((base_dir / config.run_dir).resolve())
    )


def _check_overrides(overrides: dict[str, Any]) -> None:
    for key in sorted(overrides):
        if key in RESERVED_TRAIN_ARGS:
            raise ConfigError(f"overrides.{key}", "is set by Inspector (use the run config's own field, if it has one)")
    try:
        from ultralytics.cfg import DEFAULT_CFG_DICT
    except ImportError:  # training itself will say that the 'train' extra is missing
        return
    unknown = sorted(set(overrides) - set(DEFAULT_CFG_DICT))
    if unknown:
        raise ConfigError(f"overrides.{unknown[0]}", "is not an ultralytics training argument")


def load_run_config(path: Path | None, overrides: dict[str, Any]) -> TrainRunConfig:
    """A run config from a YAML file (optional) with ``overrides`` (command-line flags; None = not given) on top."""
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ConfigError("", f"cannot read run config {path}: {err.strerror}") from err
        except yaml.YAMLError as err:
            raise ConfigError("", f"{path} is not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError("", f"{path} must be a mapping of run settings")
        data = dict(loaded or {})
        base_dir = path.resolve().parent
    for key, value in overrides.items():
        if value is not None:
            data[key] = str(Path(value).resolve()) if key in ("data", "run_dir") else value
    return run_config_from_dict(data, base_dir)


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


def _training_data_yaml(dataset: Dataset, run_dir: Path, good_fraction: float, seed: int) -> Path:
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


def read_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_FILE
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise TrainingError(f"{run_dir} is not a training run ({path}: {err.strerror})") from err
    except ValueError as err:
        raise TrainingError(f"{path} is not valid JSON: {err}") from err


def resume_config(run_dir: Path) -> TrainRunConfig:
    """The config an interrupted run was started with (from its ``run.json``)."""
    raw = read_run(run_dir).get("config")
    if not raw:
        raise TrainingError(f"{run_dir / RUN_FILE} does not record its run config; pass --config or --data")
    return run_config_from_dict(raw, run_dir)


def _log_progress(trainer: Any) -> None:
    fitness = trainer.fitness if trainer.fitness is not None else float("nan")
    log.info("epoch %d/%d done, validation fitness %.4f", trainer.epoch + 1, trainer.epochs, fitness)


def train_run(
    config: TrainRunConfig,
    resume: bool = False,
    verbose: bool = True,
    callbacks: dict[str, Callable[[Any], None]] | None = None,
) -> dict[str, Any]:
    """Train (or resume) the run of ``config``; return what ``run.json`` records.

    ``callbacks`` are further ultralytics callbacks by event name, given the trainer.
    """
    run_dir = Path(config.run_dir)
    dataset = load_dataset(config.data)
    previous: dict[str, Any] = {}
    if resume and (run_dir / RUN_FILE).is_file():
        previous = read_run(run_dir)
        if previous.get("state") == "finished":
            raise TrainingError(f"the run in {run_dir} has finished; nothing to resume (its model: {previous['checkpoint']})")
        if previous["dataset"]["version"] != dataset.version:
            raise TrainingError(
                f"cannot resume: the run trained on dataset {previous['dataset']['version']}, "
                f"{config.data} is now {dataset.version}"
            )
    elif not resume and (checkpoint_dir(run_dir) / "last.pt").exists():
        raise TrainingError(f"{run_dir} holds a training run already: resume it, or choose another run folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    data_yaml = _training_data_yaml(dataset, run_dir, config.good_image_fraction, config.seed)
    settings = config.settings()
    record = {
        "config": to_dict(config),
        "dataset": dataset.summary(),
        "settings": previous.get("settings", dataclasses.asdict(settings)),
        "device": resolve_device(settings.device),
        "data_yaml": str(data_yaml),
        "train_seconds": previous.get("train_seconds", 0.0),
        "sessions": previous.get("sessions", []),
    }
    started = time.time()
    (run_dir / RUN_FILE).write_text(json.dumps({**record, "state": "training"}, indent=2) + "\n")
    log.info("training %s on dataset %s (%s) into %s", settings.model_yaml, dataset.version, record["device"], run_dir)
    events: dict[str, list[Callable[[Any], None]]] = {"on_fit_epoch_end": [_log_progress]}
    for event, callback in (callbacks or {}).items():
        events.setdefault(event, []).append(callback)
    best = train(data_yaml, run_dir, settings, resume=resume, verbose=verbose, callbacks=events)
    seconds = time.time() - started
    record["train_seconds"] = round(record["train_seconds"] + seconds, 1)
    record["sessions"] = [*record["sessions"], {"started": started, "seconds": round(seconds, 1), "resumed": resume}]
    record["checkpoint"] = str(best)
    (run_dir / RUN_FILE).write_text(json.dumps({**record, "state": "finished"}, indent=2) + "\n")
    log.info("training finished in %.0f s: %s", seconds, best)
    return record

"""A training run: a typed run config in, a run folder with a typed run record out.

A run config (YAML; relative paths are taken from the config file's folder)
names the model ``family``, the dataset and the run folder; every other key
belongs to the family's settings (:mod:`inspector.training.backends`), and
unknown keys are refused::

    family: anomaly                      # yolo (default) | anomaly | segmentation
    data: ../datasets/magnetic_tile      # dataset folder (inspector dataset import, or the HMI's export)
    run_dir: ../runs/magnetic_tile
    input_size: [320, 320]               # ... the family's own settings (docs/training.md)

The run folder holds the backend's artefacts and ``run.json``, the
:class:`RunRecord`: the config, the dataset version, the device, how long
training took (per session, when resumed) and the trained artefact, which
``inspector export`` reads to build the model package.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from inspector.datasets_tool import load_dataset
from inspector.errors import ConfigError, TrainingError
from inspector.training.backends import Progress, ProgressCallback, TrainingBackend, backend_for, backend_names
from inspector.training.run_lock import RunLock, training_now
from inspector.typed import FieldProblem, from_dict, to_dict

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
COMMON_KEYS = ("family", "data", "run_dir")
PATH_KEYS = ("data", "run_dir")


@dataclass(frozen=True)
class TrainRunConfig:
    """A validated run config: the family, where the data and the run are, and the family's settings."""

    family: str
    data: str
    run_dir: str
    settings: Any  # the family backend's settings dataclass

    @property
    def backend(self) -> TrainingBackend:
        return backend_for(self.family)

    def to_json(self) -> dict[str, Any]:
        """The flat form a run config file has (and ``run.json`` records)."""
        return {"family": self.family, "data": self.data, "run_dir": self.run_dir, **to_dict(self.settings)}


@dataclass(frozen=True)
class TrainingSession:
    started: float
    seconds: float
    resumed: bool


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` holds."""

    family: str
    state: Literal["training", "finished"]
    config: dict[str, Any]
    dataset: dict[str, Any]
    device: str
    train_seconds: float = 0.0
    sessions: list[TrainingSession] = field(default_factory=list)
    checkpoint: str = ""

    def run_config(self, run_dir: Path) -> TrainRunConfig:
        return run_config_from_dict(self.config, run_dir)


def run_config_from_dict(data: Any, base_dir: Path) -> TrainRunConfig:
    """Validate a run config; relative ``data`` and ``run_dir`` are taken from ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError("", "a run config must be a mapping of run settings")
    family = data.get("family", "yolo")
    if not isinstance(family, str):
        raise ConfigError("family", f"expected a string, got {family!r}")
    backend = backend_for(family)
    for key in PATH_KEYS:
        if key not in data:
            raise ConfigError(key, "required but missing")
        if not isinstance(data[key], str):
            raise ConfigError(key, f"expected a path, got {data[key]!r}")
    try:
        settings = from_dict(backend.settings_type, {k: v for k, v in data.items() if k not in COMMON_KEYS})
    except FieldProblem as err:
        raise ConfigError(err.path, err.problem) from err
    backend.check(settings)
    return TrainRunConfig(
        family, str((base_dir / data["data"]).resolve()), str((base_dir / data["run_dir"]).resolve()), settings
    )


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
            data[key] = str(Path(value).resolve()) if key in PATH_KEYS else value
    return run_config_from_dict(data, base_dir)


def settings_table(family: str) -> list[str]:
    """The run config keys of ``family`` with their defaults and meaning, as Markdown table rows."""
    backend = backend_for(family)
    rows = ["| key | default | meaning |", "|---|---|---|", "| `family` | `yolo` | model family: " + ", ".join(
        f"`{name}`" for name in sorted(backend_names())) + " |", "| `data` | required | dataset folder |",
        "| `run_dir` | required | run folder |"]
    for f in dataclasses.fields(backend.settings_type):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append(f"| `{f.name}` | `{json.dumps(to_dict(default))}` | {f.metadata['doc']} |")
    return rows


def read_run(run_dir: Path) -> RunRecord:
    path = run_dir / RUN_FILE
    try:
        raw = json.loads(path.read_text())
    except OSError as err:
        raise TrainingError(f"{run_dir} is not a training run ({path}: {err.strerror})") from err
    except ValueError as err:
        raise TrainingError(f"{path} is not valid JSON: {err}") from err
    try:
        return from_dict(RunRecord, raw)
    except FieldProblem as err:
        raise TrainingError(f"{path}: field {err}") from err


def write_run(run_dir: Path, record: RunRecord) -> None:
    path = run_dir / RUN_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(to_dict(record), indent=2) + "\n")
    tmp.replace(path)


def resume_config(run_dir: Path) -> TrainRunConfig:
    """The config an interrupted run was started with (from its ``run.json``)."""
    return read_run(run_dir).run_config(run_dir)


def _log_progress(step: Progress) -> None:
    log.info("%s", step.line())


def train_run(config: TrainRunConfig, resume: bool = False, progress: ProgressCallback | None = None) -> RunRecord:
    """Train (or resume) the run of ``config``; return its record (also written to ``run.json``).

    ``progress`` is called after every step (epoch, image...) besides the log
    line; an exception it raises interrupts the run, which can be resumed.
    """
    run_dir = Path(config.run_dir)
    dataset = load_dataset(config.data)
    backend = config.backend
    previous: RunRecord | None = None
    if (run_dir / RUN_FILE).is_file():
        if not resume:
            raise TrainingError(f"{run_dir} holds a training run already: resume it, or choose another run folder")
        previous = read_run(run_dir)
        running = training_now(run_dir)
        if running:
            raise TrainingError(f"the run in {run_dir} is still training ({running}); wait for it, or stop it first")
        if previous.state == "finished":
            raise TrainingError(f"the run in {run_dir} has finished; nothing to resume (its model: {previous.checkpoint})")
        if previous.dataset.get("version") != dataset.version:
            raise TrainingError(
                f"cannot resume: the run trained on dataset {previous.dataset.get('version')}, {config.data} is now {dataset.version}"
            )
        if previous.family != config.family:
            raise TrainingError(f"cannot resume: the run in {run_dir} trains a {previous.family} model, not {config.family}")
    elif resume:
        log.warning("nothing to resume in %s: starting a new training run", run_dir)
        resume = False
    run_dir.mkdir(parents=True, exist_ok=True)
    record = RunRecord(
        family=config.family,
        state="training",
        config=previous.config if previous else config.to_json(),
        dataset=dataset.summary(),
        device=backend.device(config.settings),
        train_seconds=previous.train_seconds if previous else 0.0,
        sessions=list(previous.sessions) if previous else [],
    )
    write_run(run_dir, record)
    log.info("training a %s model on dataset %s (%s) into %s", config.family, dataset.version, record.device, run_dir)

    def report(step: Progress) -> None:
        _log_progress(step)
        if progress is not None:
            progress(step)

    started = time.time()
    with RunLock(run_dir):  # export and resume can tell "still training" from "interrupted"
        checkpoint = backend.train(dataset, run_dir, config.settings, resume, report)
    seconds = time.time() - started
    record = dataclasses.replace(
        record,
        state="finished",
        train_seconds=round(record.train_seconds + seconds, 1),
        sessions=[*record.sessions, TrainingSession(round(started, 3), round(seconds, 1), resume)],
        checkpoint=str(checkpoint),
    )
    write_run(run_dir, record)
    log.info("training finished in %.0f s: %s", seconds, checkpoint)
    return record

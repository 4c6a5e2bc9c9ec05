"""The recipes of the bundled default models, end to end, in one call, through the same commands a user runs.

1. Render synthetic parts (generator seed 1): 1,000 for training, 200 for
   validation, as a YOLO-layout folder, and import it as an Inspector dataset
   (``inspector dataset import --layout yolo --keep-source-splits``).
2. Train the family's recipe on it (``inspector train``): YOLOv8n from its
   model YAML at 320 px, or the anomaly model on the good training parts only.
3. Export (``inspector export``): the reject threshold is the lowest one that
   keeps false rejects of good validation parts at or under 0.5 % (YOLO:
   never below 0.05, the default station's ``detector.families.yolo.min_confidence``).
4. Measure on 1,000 parts of an unseen generator seed (2) with the line's
   engine and add that, and the generator's settings, to the metadata.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from inspector.config.schema import DetectorConfig
from inspector.datasets_tool import ImportOptions, import_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package, write_metadata
from inspector.evaluation import image_metrics, line_thresholds, score_images
from inspector.synthetic import PartGenerator
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
from inspector.training.package import export_package, finite
from inspector.training.runs import TrainRunConfig, train_run
from inspector.training.ultralytics_backend import YoloSettings

log = logging.getLogger(__name__)

TRAIN_SEED, TRAIN_DEFECT_RATE = 1, 0.6
SPLITS = [SplitSpec("train", 0, 1000), SplitSpec("val", 1000, 200)]
HOLDOUT_SEED, HOLDOUT_PARTS = 2, 1000
TARGET_FALSE_REJECT_RATE = 0.005
MODEL_NAMES = {"yolo": "synthetic-discs-yolov8n", "anomaly": "synthetic-discs-anomaly"}


def recipe_settings(family: str, epochs: int) -> Any:
    """The settings of the bundled model of ``family``."""
    if family == "yolo":
        return YoloSettings(epochs=epochs, close_mosaic=min(4, epochs), device="cpu")
    from inspector.training.backends.anomaly import AnomalySettings, recipe_for_parts

    return recipe_for_parts(AnomalySettings)


def synthetic_samples(generator: PartGenerator, indices: range) -> Iterator[tuple[np.ndarray, frozenset[str]]]:
    for i in indices:
        part = generator.part(i)
        yield part.image, frozenset(d.cls for d in part.defects)


def synthetic_dataset(work_dir: Path, splits: list[SplitSpec] = SPLITS) -> Path:
    """Render the training parts and import them as a dataset (once; reused when resuming)."""
    dataset = work_dir / "dataset"
    if not (dataset / "manifest.json").exists():
        source = work_dir / "source"
        write_yolo_dataset(source, PartGenerator(defect_rate=TRAIN_DEFECT_RATE, seed=TRAIN_SEED), splits)
        import_dataset(
            source, dataset,
            ImportOptions(layout="yolo", name="synthetic-discs", keep_source_splits=True, replace=True),
        )
    return dataset


def retrain_default_model(
    work_dir: Path, out_dir: Path, family: str = "yolo", epochs: int = 22, resume: bool = False,
    splits: list[SplitSpec] = SPLITS, holdout_parts: int = HOLDOUT_PARTS, settings: Any = None,
) -> Path:
    """Train, export and measure the default model of ``family`` into ``out_dir``; return its ONNX path."""
    dataset = synthetic_dataset(work_dir, splits)
    run_dir = work_dir / f"run-{family}"
    config = TrainRunConfig(family, str(dataset.resolve()), str(run_dir.resolve()), settings or recipe_settings(family, epochs))
    train_run(config, resume=resume)
    package = export_package(
        run_dir, out_dir, TARGET_FALSE_REJECT_RATE, name=MODEL_NAMES.get(family, f"synthetic-discs-{family}"),
        version=time.strftime("%Y.%m.%d"),
    )
    detector = DefectDetector(DetectorConfig(model=str(package.onnx_path), providers=["CPUExecutionProvider"], warmup_runs=0))
    try:
        holdout = score_images(detector, synthetic_samples(PartGenerator(defect_rate=0.5, seed=HOLDOUT_SEED), range(holdout_parts)))
        holdout_metrics = image_metrics(holdout, line_thresholds(detector))
    finally:
        detector.close()
    meta = package.metadata
    metadata = dataclasses.replace(
        meta,
        dataset={
            **meta.dataset,
            "kind": "synthetic discs (inspector.synthetic)",
            "generator_seed": TRAIN_SEED,
            "defect_rate": TRAIN_DEFECT_RATE,
            "generator_splits": {s.name: [s.first_index, s.first_index + s.count] for s in splits},
        },
        metrics={
            **meta.metrics,
            "holdout": finite({"generator_seed": HOLDOUT_SEED, "parts": holdout_parts, **holdout_metrics}),
        },
    )
    write_metadata(package.onnx_path, metadata)
    log.info("default %s model written to %s: holdout %s", family, package.onnx_path, metadata.metrics["holdout"])
    return load_model_package(package.onnx_path).onnx_path

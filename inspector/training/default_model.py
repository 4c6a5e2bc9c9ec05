"""The recipe of the bundled default model, end to end, in one call.

1. Render synthetic parts (generator seed 1): 1,000 for training, 200 for
   validation.
2. Train YOLOv8n from its model YAML (nothing downloaded) at 320 px.
3. Export to ONNX and load it with the line's own engine.
4. Choose the reject threshold on the validation parts: the lowest one that
   keeps false rejects of good parts at or under 0.5 % (never below 0.05, the
   default station's ``detector.min_confidence``).
5. Measure on 1,000 parts of an unseen generator seed (2) and write the
   metadata (classes, input size, thresholds, data, settings, metrics, sha256).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

from inspector.config.schema import DetectorConfig
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import ModelMetadata, ModelPackage, sha256_of, write_metadata
from inspector.evaluation import image_metrics, score_images, threshold_for_false_reject_rate
from inspector.synthetic import DEFECT_CLASSES, PartGenerator
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
from inspector.training.ultralytics_backend import TrainSettings, export_onnx, train

log = logging.getLogger(__name__)

TRAIN_SEED, TRAIN_DEFECT_RATE = 1, 0.6
SPLITS = [SplitSpec("train", 0, 1000), SplitSpec("val", 1000, 200)]
HOLDOUT_SEED, HOLDOUT_PARTS = 2, 1000
TARGET_FALSE_REJECT_RATE = 0.005
CALIBRATION_MIN_CONFIDENCE = 0.05


def synthetic_samples(generator: PartGenerator, indices: range):
    for i in indices:
        part = generator.part(i)
        yield part.image, frozenset(d.cls for d in part.defects)


def retrain_default_model(work_dir: Path, out_dir: Path, epochs: int = 22, resume: bool = False) -> Path:
    generator = PartGenerator(defect_rate=TRAIN_DEFECT_RATE, seed=TRAIN_SEED)
    data_yaml = work_dir / "data" / "data.yaml"
    if not data_yaml.exists():
        write_yolo_dataset(work_dir / "data", generator, SPLITS)
    settings = TrainSettings(epochs=epochs, close_mosaic=min(4, epochs))
    started = time.time()
    checkpoint = train(data_yaml, work_dir / "run", settings, resume=resume)
    return package_default_model(checkpoint, out_dir, settings, time.time() - started)


def package_default_model(checkpoint: Path, out_dir: Path, settings: TrainSettings, train_seconds: float = 0.0) -> Path:
    onnx_path = out_dir / "model.onnx"
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(export_onnx(checkpoint, settings.imgsz), onnx_path)
    provisional = ModelMetadata(
        name="synthetic-discs-yolov8n",
        version=time.strftime("%Y.%m.%d"),
        classes=list(DEFECT_CLASSES),
        input_size=(settings.imgsz, settings.imgsz),
        onnx_sha256=sha256_of(onnx_path),
    )
    calib_config = DetectorConfig(model=str(onnx_path), providers=["CPUExecutionProvider"], min_confidence=CALIBRATION_MIN_CONFIDENCE)
    detector = DefectDetector(calib_config, ModelPackage(onnx_path, provisional))
    val_gen = PartGenerator(defect_rate=TRAIN_DEFECT_RATE, seed=TRAIN_SEED)
    val_split = SPLITS[1]
    val_scored = score_images(detector, synthetic_samples(val_gen, range(val_split.first_index, val_split.first_index + val_split.count)))
    threshold = max(threshold_for_false_reject_rate(val_scored, TARGET_FALSE_REJECT_RATE), CALIBRATION_MIN_CONFIDENCE)
    thresholds = {c: round(threshold, 4) for c in DEFECT_CLASSES}
    holdout = score_images(detector, synthetic_samples(PartGenerator(defect_rate=0.5, seed=HOLDOUT_SEED), range(HOLDOUT_PARTS)))
    metrics = {
        "holdout": {"generator_seed": HOLDOUT_SEED, "parts": HOLDOUT_PARTS, **image_metrics(holdout, thresholds)},
        "validation": image_metrics(val_scored, thresholds),
    }
    metadata = dataclasses.replace(
        provisional,
        class_thresholds=thresholds,
        dataset={
            "kind": "synthetic discs (inspector.synthetic)",
            "generator_seed": TRAIN_SEED,
            "defect_rate": TRAIN_DEFECT_RATE,
            "splits": {s.name: [s.first_index, s.first_index + s.count] for s in SPLITS},
        },
        training={
            **dataclasses.asdict(settings),
            "train_seconds": round(train_seconds),
            "operating_point": f"lowest threshold with false-reject rate <= {TARGET_FALSE_REJECT_RATE:.1%} on validation",
        },
        metrics=metrics,
    )
    write_metadata(onnx_path, metadata)
    log.info("default model written to %s: %s", onnx_path, metrics["holdout"])
    return onnx_path

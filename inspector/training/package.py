"""``inspector export``: a training run in, a model package (``model.onnx`` + ``model.json``) out.

The reject threshold is the operating point chosen on the dataset's val split
with the line's own engine: the lowest single threshold whose false-reject
rate on good val images is at most the target. It is then measured, as it
is, on val and on the test split (never used to choose anything), and both
results go into the metadata with the dataset version, the training settings
and the ONNX file's sha256, which the detector service checks on load.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

from inspector.config.schema import DetectorConfig
from inspector.datasets_tool import load_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import ModelMetadata, ModelPackage, load_model_package, sha256_of, write_metadata
from inspector.evaluation import image_metrics, rounded_up, score_images, threshold_for_false_reject_rate
from inspector.training.runs import read_run
from inspector.training.ultralytics_backend import TrainingError, checkpoint_dir, export_onnx

log = logging.getLogger(__name__)

SCORE_FLOOR = 0.01  # detections this weak still count towards a part's defect score while measuring
LINE_MIN_CONFIDENCE = DetectorConfig.__dataclass_fields__["min_confidence"].default  # the station's default


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (no good or no defective image) as None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def measuring_detector(
    onnx_path: Path, metadata: ModelMetadata, providers: list[str] | None = None, min_area_px: float = 0.0
) -> DefectDetector:
    """The line's engine on this model, keeping weak detections so every part gets a defect score."""
    config = DetectorConfig(
        model=str(onnx_path), providers=providers or ["CPUExecutionProvider"], min_confidence=SCORE_FLOOR, warmup_runs=0,
        min_area_px=min_area_px,
    )
    return DefectDetector(config, ModelPackage(onnx_path, metadata))


def export_package(
    run_dir: Path,
    out_dir: Path,
    target_false_reject_rate: float = 0.01,
    min_threshold: float = LINE_MIN_CONFIDENCE,
    name: str | None = None,
    version: str | None = None,
    checkpoint: Path | None = None,
) -> ModelPackage:
    """Export the run's best checkpoint and write its metadata; return the loaded (checked) package."""
    run = read_run(run_dir)
    if run.get("state") != "finished" and checkpoint is None:
        raise TrainingError(f"the training run in {run_dir} has not finished (resume it with 'inspector train --resume')")
    dataset = load_dataset(run["dataset"]["path"])
    if dataset.version != run["dataset"]["version"]:
        raise TrainingError(
            f"the run trained on dataset {run['dataset']['version']}, {dataset.root} is now {dataset.version}"
        )
    settings = run["settings"]
    imgsz = int(settings["imgsz"])
    checkpoint = checkpoint or checkpoint_dir(run_dir) / "best.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    shutil.copyfile(export_onnx(checkpoint, imgsz), onnx_path)
    model_name = Path(settings["model_yaml"]).stem
    provisional = ModelMetadata(
        name=name or f"{dataset.version.rsplit('-', 1)[0]}-{model_name}",
        version=version or time.strftime("%Y.%m.%d-%H%M"),
        classes=list(dataset.classes),
        input_size=(imgsz, imgsz),
        onnx_sha256=sha256_of(onnx_path),
    )
    detector = measuring_detector(onnx_path, provisional)
    started = time.time()
    val = score_images(detector, dataset.samples("val"))
    chosen = threshold_for_false_reject_rate(val, target_false_reject_rate)
    threshold = max(chosen, min_threshold)
    if threshold > chosen:
        log.warning(
            "the threshold meeting %.2f%% false rejects on val is %.4f; raised to %.4f, the lowest score the line acts "
            "on by default (detector.min_confidence). To use it, export with a lower minimum threshold and lower "
            "detector.min_confidence in the station config to match.",
            100 * target_false_reject_rate, chosen, threshold,
        )
    thresholds = {c: rounded_up(threshold) for c in dataset.classes}
    metrics: dict[str, Any] = {"validation": image_metrics(val, thresholds)}
    if dataset.splits.get("test"):
        metrics["test"] = image_metrics(score_images(detector, dataset.samples("test")), thresholds)
    metadata = dataclasses.replace(
        provisional,
        class_thresholds=thresholds,
        dataset=dataset.summary(),
        training={
            **settings,
            "device": run.get("device", ""),
            "train_seconds": run.get("train_seconds", 0),
            "checkpoint": str(checkpoint),
            "operating_point": {
                "rule": "lowest single threshold with false-reject rate <= target on the val split, "
                "at least min_threshold",
                "target_false_reject_rate": target_false_reject_rate,
                "threshold_at_target": chosen,
                "min_threshold": min_threshold,
                "score_floor_while_measuring": SCORE_FLOOR,
            },
            "measure_seconds": round(time.time() - started, 1),
        },
        metrics=finite(metrics),
    )
    write_metadata(onnx_path, metadata)
    log.info("model package %s written to %s", metadata.label, onnx_path)
    return load_model_package(onnx_path)


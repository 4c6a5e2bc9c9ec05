"""``inspector export``: a training run in, a model package (``model.onnx`` + ``model.json``) out, for every family.

1. The run's backend writes the ONNX graph (:mod:`inspector.training.backends`).
2. The line's own engine scores the dataset's val split.
3. For families whose raw scores are not probabilities (anomaly, segmentation),
   the score normalisation is set from the good val parts: 0 is their median,
   1 the score at the operating point, so a threshold reads the same for
   every model ("1 = the export's operating point") and several models'
   scores compare. The val split is scored again through the normalised
   engine, so the threshold is chosen on exactly what the line computes.
4. The reject threshold is the lowest single one whose false-reject rate on
   good val images is at most the target (defective images play no part in
   choosing it; they only report), rounded up. YOLO thresholds are never
   below the line's ``min_confidence`` (``detector.families.yolo``).
5. It is measured, as it is, on val and on the test split (never used to
   choose anything); both results go into the metadata with the dataset
   version, the training settings and the ONNX file's sha256.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspector.config.schema import DetectorConfig, YoloSettings
from inspector.datasets_tool import Dataset, load_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.families import family_class
from inspector.engine.model_metadata import ModelMetadata, ScoreNormalisation
from inspector.engine.model_package import ModelPackage, load_model_package, sha256_of, write_metadata
from inspector.errors import TrainingError
from inspector.evaluation import (
    ScoredImage,
    image_metrics,
    line_thresholds,
    rounded_up,
    score_images,
    threshold_for_false_reject_rate,
)
from inspector.training.backends import backend_for
from inspector.training.run_lock import training_now
from inspector.training.runs import read_run
from inspector.typed import to_dict

log = logging.getLogger(__name__)

SCORE_FLOOR = 0.01  # YOLO: detections this weak still count towards a part's defect score while measuring
LINE_MIN_CONFIDENCE = YoloSettings().min_confidence  # the station's default detector.families.yolo.min_confidence


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
    """The line's engine on this model, keeping weak YOLO detections so every part gets a defect score."""
    config = DetectorConfig(
        model=str(onnx_path), providers=providers or ["CPUExecutionProvider"], warmup_runs=0, min_area_px=min_area_px,
    )
    return DefectDetector(config, ModelPackage(onnx_path, metadata), score_floor=SCORE_FLOOR)


def normalisation_from_good(scored: list[ScoredImage], target_false_reject_rate: float) -> ScoreNormalisation:
    """0 at the good parts' median score, 1 at the score the operating point lets pass."""
    good = np.array([s.defect_score for s in scored if not s.defective], np.float64)
    good = good[np.isfinite(good)]
    if len(good) < 2:
        raise TrainingError("the val split needs at least two good images to set the score scale and the threshold")
    median = float(np.median(good))
    at_target = threshold_for_false_reject_rate(scored, target_false_reject_rate)
    scale = at_target - median if math.isfinite(at_target) else 0.0
    if not scale > 0:
        scale = float(np.std(good)) or 1.0
    return ScoreNormalisation(
        shift=median, scale=scale,
        basis=f"0 = median score of {len(good)} good val images, 1 = the score meeting "
        f"{target_false_reject_rate:.2%} false rejects on them",
    )


def measure(metadata: ModelMetadata, onnx_path: Path, dataset: Dataset, split: str) -> list[ScoredImage]:
    """The levels of every image of ``split``, before any threshold is chosen.

    A part's levels do not depend on thresholds; until one is chosen, every
    class's is +inf (nothing is cut into regions, nothing is rejected).
    """
    undecided = dataclasses.replace(metadata, class_thresholds={c: math.inf for c in metadata.classes})
    detector = measuring_detector(onnx_path, undecided)
    try:
        return score_images(detector, dataset.samples(split))
    finally:
        detector.close()


def export_package(
    run_dir: Path,
    out_dir: Path,
    target_false_reject_rate: float = 0.01,
    min_threshold: float = LINE_MIN_CONFIDENCE,
    name: str | None = None,
    version: str | None = None,
    checkpoint: Path | None = None,
) -> ModelPackage:
    """Export the run's trained model and write its metadata; return the loaded (checked) package.

    ``min_threshold`` applies to families with a minimum confidence, YOLO detectors (the line's
    ``detector.families.yolo.min_confidence``).
    """
    run = read_run(run_dir)
    if run.state != "finished" and checkpoint is None:
        running = training_now(run_dir)
        if running:
            raise TrainingError(f"the training run in {run_dir} is still running ({running}); export it when it has finished")
        raise TrainingError(f"the training run in {run_dir} was interrupted before it finished (resume it with 'inspector train --resume')")
    dataset = load_dataset(run.dataset["path"])
    if dataset.version != run.dataset["version"]:
        raise TrainingError(f"the run trained on dataset {run.dataset['version']}, {dataset.root} is now {dataset.version}")
    config = run.run_config(run_dir)
    backend = backend_for(run.family)
    checkpoint = checkpoint or Path(run.checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    started = time.time()
    try:
        graph = backend.export(checkpoint, config.settings, dataset, onnx_path)
    except TrainingError:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    provisional = ModelMetadata(
        name=name or f"{dataset.version.rsplit('-', 1)[0]}-{graph.name or run.family}",
        version=version or time.strftime("%Y.%m.%d-%H%M"),
        classes=list(graph.classes),
        input_size=graph.input_size,
        onnx_sha256=sha256_of(onnx_path),
        family=run.family,
        family_settings=graph.family_settings,
    )
    uses_min_confidence = family_class(run.family).uses_min_confidence
    val = measure(provisional, onnx_path, dataset, "val")
    if not uses_min_confidence:
        provisional = dataclasses.replace(provisional, score_normalisation=normalisation_from_good(val, target_false_reject_rate))
        val = measure(provisional, onnx_path, dataset, "val")
    chosen = threshold_for_false_reject_rate(val, target_false_reject_rate)  # -inf: any score meets the target
    threshold = max(chosen, min_threshold) if uses_min_confidence else chosen
    if not math.isfinite(threshold):
        raise TrainingError(f"the target of {target_false_reject_rate:.2%} false rejects allows rejecting every good val image")
    if threshold > chosen:
        log.warning(
            "the threshold meeting %.2f%% false rejects on val is %.4f; raised to %.4f, the lowest score the line acts "
            "on by default (detector.families.%s.min_confidence). To use it, export with a lower minimum threshold "
            "and lower detector.families.%s.min_confidence in the station config to match.",
            100 * target_false_reject_rate, chosen, threshold, run.family, run.family,
        )
    thresholds = {c: rounded_up(threshold) for c in provisional.classes}
    decided = dataclasses.replace(provisional, class_thresholds=thresholds)
    engine = measuring_detector(onnx_path, decided)
    try:
        line = line_thresholds(engine)
        metrics: dict[str, Any] = {"validation": image_metrics(val, line)}
        if dataset.splits.get("test"):
            metrics["test"] = image_metrics(score_images(engine, dataset.samples("test")), line)
    finally:
        engine.close()
    metadata = dataclasses.replace(
        decided,
        dataset=dataset.summary(),
        training=finite({
            **to_dict(config.settings),
            "family": run.family,
            "device": run.device,
            "train_seconds": run.train_seconds,
            "checkpoint": str(checkpoint),
            "operating_point": {
                "rule": "lowest single threshold with false-reject rate <= target on the good images of the val split"
                + (", at least min_threshold" if uses_min_confidence else ""),
                "target_false_reject_rate": target_false_reject_rate,
                "threshold_at_target": chosen,
                **({"min_threshold": min_threshold, "score_floor_while_measuring": SCORE_FLOOR} if uses_min_confidence else {}),
            },
            "measure_seconds": round(time.time() - started, 1),
        }),
        metrics=finite(metrics),
    )
    write_metadata(onnx_path, metadata)
    log.info("model package %s written to %s", metadata.label, onnx_path)
    return load_model_package(onnx_path)

"""``inspector evaluate``: a model package on a dataset split, through the line's own engine, as a report.

Every image goes through :class:`DefectDetector` (the model family's
pre-processing, ONNX Runtime, its post-processing, the decision rule), not a
training framework's validator. A part is rejected as the line would reject
it: a finding reaches its class's threshold (station config, then the
model's metadata, then, for YOLO, the detector's minimum confidence) and
covers the minimum area. With a station config that runs several models
(``detector.additional_models``), the combination is evaluated: a part is
rejected when any model rejects it. Written to the output folder:

- ``report.md``: false-reject rate, escape rate, image-level AUROC, per-class
  recall, the operating point meeting a target false-reject rate, the worst
  escapes and false rejects
- ``metrics.json``: the same numbers, for machines
- ``scores.csv``: per image: dataset path (``images/<split>/...``), the file it was imported from, truth, defect score, decision
- ``roc.png`` and ``scores.png``: ROC curve and defect-score distributions

Plots need matplotlib (in the ``train`` extra); it is imported only here.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspector.config.schema import DetectorConfig
from inspector.datasets_tool import DatasetImage, load_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package
from inspector.errors import TrainingError
from inspector.evaluation import (
    ScoredImage,
    image_metrics,
    line_thresholds,
    operating_point,
    per_class_detection,
    roc_curve,
    score_images,
)
from inspector.training.package import SCORE_FLOOR, finite

log = logging.getLogger(__name__)

LISTED_MISTAKES = 15


def evaluate_model(
    model: Path,
    dataset_root: Path,
    split: str,
    out_dir: Path,
    target_false_reject_rate: float = 0.01,
    station_detector: DetectorConfig | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``split`` of the dataset and write the report into ``out_dir``; return the metrics."""
    package = load_model_package(model)
    meta = package.metadata
    dataset = load_dataset(dataset_root)
    images = dataset.split(split)
    trained_on = meta.dataset.get("version")
    if trained_on == dataset.version and split in ("train", "val"):
        log.warning("split %r of %s was used to train or calibrate this model: the numbers are optimistic", split, trained_on)
    line_config = dataclasses.replace(
        station_detector or DetectorConfig(model=str(model)), model=str(package.onnx_path), warmup_runs=0, keep_warm_s=0.0
    )
    detector = DefectDetector(line_config, package, score_floor=SCORE_FLOOR)
    try:
        thresholds = line_thresholds(detector)
        models = [slot.label for slot in detector.slots]
        providers = detector.providers
        started = time.perf_counter()
        scored = score_images(detector, ((i.read(), i.classes) for i in images))
        seconds = time.perf_counter() - started
    finally:
        detector.close()
    metrics = image_metrics(scored, thresholds)
    metrics["per_class"] = per_class_detection(scored, thresholds)
    result = {
        "model": " + ".join(models),
        "family": meta.family,
        "models": models,
        "model_path": str(package.onnx_path),
        "dataset": dataset.version,
        "dataset_path": str(dataset.root),
        "model_trained_on": trained_on,
        "split": split,
        "providers": providers,
        "line_thresholds": thresholds,
        "line_min_confidence": line_config.families.yolo.min_confidence,
        "score_floor": SCORE_FLOOR,
        **metrics,
        "operating_point": operating_point(scored, target_false_reject_rate),
        "seconds": round(seconds, 2),
        "ms_per_image": round(1000 * seconds / len(images), 2),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(finite(result), indent=2) + "\n")
    _write_scores(out_dir / "scores.csv", images, scored, thresholds)
    _plot(out_dir, scored, thresholds, result)
    (out_dir / "report.md").write_text(_markdown(result, images, scored, thresholds))
    log.info("evaluation of %s on %s/%s written to %s", meta.label, dataset.version, split, out_dir)
    return result


def _dataset_path(image: DatasetImage) -> str:
    """The image's path in the dataset folder, which names its split: ``images/test/part_0042.png``."""
    return image.path.relative_to(image.path.parents[2]).as_posix()


def _imported_from(image: DatasetImage) -> str:
    """Where the import took the image from, said as such: a test image's source file may sit in the source's
    ``images/train/`` folder, which is not this dataset's train split."""
    if not image.source or image.source == image.path.name:
        return ""
    return f" (imported from `{image.source}` of the source folder)"


def _write_scores(path: Path, images: list[DatasetImage], scored: list[ScoredImage], thresholds: dict[str, float]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "imported_from", "truth", "true_classes", "defect_score", "top_class", "rejected"])
        for image, s in zip(images, scored):
            top = max(s.class_scores, key=s.class_scores.get, default="")
            writer.writerow([
                _dataset_path(image), image.source, "defective" if s.defective else "good", " ".join(sorted(s.true_classes)),
                _score(s.defect_score), top if math.isfinite(s.defect_score) else "", int(s.rejected(thresholds)),
            ])


def _score(value: float) -> str:
    """A score for people: 4 decimals, or 'none' when nothing was found at all."""
    return f"{value:.4f}" if math.isfinite(value) else "none"


def _plotted(values: list[float], floor: float) -> list[float]:
    """Scores with 'nothing found' drawn at ``floor`` (a histogram has no -inf)."""
    return [v if math.isfinite(v) else floor for v in values]


def _plot(out_dir: Path, scored: list[ScoredImage], thresholds: dict[str, float], result: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise TrainingError("the evaluation plots need matplotlib (pip install 'inspector[train]')") from err
    line_t = min(thresholds.values())
    op = result["operating_point"]
    frr, tpr, _ = roc_curve(scored)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(frr, tpr, label=f"ROC (AUROC {result['auroc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.plot(result["false_reject_rate"], 1 - result["escape_rate"], "o", color="red", label=f"line threshold {line_t:.3f}")
    ax.plot(op["false_reject_rate"], 1 - op["escape_rate"], "s", color="green",
            label=f"{op['target_false_reject_rate']:.1%} false rejects: threshold {op['threshold']:.3f}")
    ax.set(xlabel="false-reject rate (good parts rejected)", ylabel="detection rate (1 - escape rate)",
           title=f"{result['model']} on {result['split']}", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    finite_scores = [s.defect_score for s in scored if math.isfinite(s.defect_score)]
    probabilities = result["family"] == "yolo"
    low = 0.0 if probabilities else min(finite_scores + [line_t]) - 0.05
    high = 1.0 if probabilities else max(finite_scores + [line_t]) + 0.05
    bins = np.linspace(low, high, 41)
    for defective, colour, name in ((False, "tab:blue", "good"), (True, "tab:red", "defective")):
        values = _plotted([s.defect_score for s in scored if s.defective == defective], low)
        if values:
            ax.hist(values, bins=bins, alpha=0.55, color=colour, label=f"{name} ({len(values)})")
    ax.axvline(line_t, color="red", linestyle="--", label=f"line threshold {line_t:.3f}")
    if math.isfinite(op["threshold"]):
        ax.axvline(op["threshold"], color="green", linestyle=":", label=f"threshold at {op['target_false_reject_rate']:.1%} FRR")
    what = "highest detection score; 0 = nothing detected" if probabilities else "highest score of the map, normalised: 0 = a typical good part"
    ax.set(xlabel=f"part defect score ({what})", ylabel="images", yscale="log")
    ax.set_ylim(bottom=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=110)
    plt.close(fig)


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f} %"


def _threshold(value: float, result: dict[str, Any]) -> str:
    if result["family"] == "yolo" and value < result["score_floor"]:
        return "any detection (score above 0)"
    return f"{value:.4f}" if math.isfinite(value) else "any part (every good part may be rejected)"


def _markdown(result: dict[str, Any], images: list[DatasetImage], scored: list[ScoredImage], thresholds: dict[str, float]) -> str:
    op = result["operating_point"]
    auroc = result["auroc"]
    lines = [
        f"# Evaluation of {result['model']}",
        "",
        f"- dataset `{result['dataset']}`, split **{result['split']}**: {result['good_images']} good and "
        f"{result['defective_images']} defective images (model trained on `{result['model_trained_on']}`)",
        f"- engine: Inspector's `DefectDetector` ({result['family']} family) on {', '.join(result['providers'])}; "
        f"{result['ms_per_image']} ms per image, {result['seconds']} s in all",
        "- decision: reject when a finding reaches its class's threshold (and minimum area): "
        + ", ".join(f"{c} {t:.3f}" for c, t in thresholds.items()),
        "",
        "## At the line's thresholds",
        "",
        "| false-reject rate (good parts) | escape rate (defective parts) | image-level AUROC |",
        "|---|---|---|",
        f"| {_pct(result['false_reject_rate'])} ({result['false_rejects']}/{result['good_images']}) "
        f"| {_pct(result['escape_rate'])} ({result['escapes']}/{result['defective_images']}) "
        f"| {'n/a' if auroc != auroc else f'{auroc:.3f}'} |",
        "",
        "| class | images | recall (part rejected) | rejected by a detection of this class | mean defect score |",
        "|---|---|---|---|---|",
    ]
    for cls, v in result["per_class"].items():
        lines.append(f"| {cls} | {v['images']} | {_pct(v['recall'])} | {_pct(v['rejected_by_own_class'])} | {_score(v['mean_defect_score'])} |")
    lines += [
        "",
        f"## Operating point for {op['target_false_reject_rate']:.1%} false rejects",
        "",
        f"The lowest single threshold meeting it on these images is **{_threshold(op['threshold'], result)}**: "
        f"false-reject rate "
        f"{_pct(op['false_reject_rate'])}, escape rate {_pct(op['escape_rate'])}; per class recall "
        + ", ".join(f"{c} {_pct(r)}" for c, r in op["per_class_recall"].items())
        + ". Chosen on the evaluated split itself, so optimistic; the model's own threshold was chosen on val.",
        "",
        "![ROC](roc.png)",
        "",
        "![Defect scores](scores.png)",
        "",
        _score_note(result),
        "",
    ]
    pairs = list(zip(images, scored))
    escapes = sorted((p for p in pairs if p[1].defective and not p[1].rejected(thresholds)), key=lambda p: p[1].defect_score)
    false_rejects = sorted(
        (p for p in pairs if not p[1].defective and p[1].rejected(thresholds)), key=lambda p: -p[1].defect_score
    )
    for title, chosen in (("Escapes (lowest score first)", escapes), ("False rejects (highest score first)", false_rejects)):
        lines += [f"## {title}: {len(chosen)}", ""]
        lines += [
            f"- `{_dataset_path(i)}`{_imported_from(i)} "
            f"{' '.join(sorted(s.true_classes)) or 'good'}: score {_score(s.defect_score)}"
            for i, s in chosen[:LISTED_MISTAKES]
        ]
        if len(chosen) > LISTED_MISTAKES:
            lines.append(f"- ... {len(chosen) - LISTED_MISTAKES} more in scores.csv")
        lines.append("")
    return "\n".join(lines)


def _score_note(result: dict[str, Any]) -> str:
    if result["family"] == "yolo":
        return (
            f"The part's defect score is its highest detection score (detections down to {result['score_floor']} count); "
            "a part with no detection has none."
        )
    return (
        "The part's defect score is the peak of its score map (the highest level at which a region of the minimum "
        "area exists), normalised so that 0 is a typical good val part and 1 the export's operating point."
    )

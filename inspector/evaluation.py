"""Image-level evaluation as a plant sees it, through the line's own engine.

Each image is scored by the same :class:`DefectDetector` and decision rules
the line runs: a part is rejected when any detection reaches its class's
threshold. Reported: false-reject rate on good parts, escape rate on
defective parts, AUROC of the part's defect score, per-class recall, and the
threshold that meets a target false-reject rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from inspector.config.schema import DetectorConfig
from inspector.engine.decision_rules import DecisionRules
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import ModelMetadata


@dataclass(frozen=True)
class ScoredImage:
    """An image's truth and the engine's highest score per detected class."""

    defective: bool
    true_classes: frozenset[str]
    class_scores: dict[str, float] = field(default_factory=dict)

    def rejected(self, thresholds: dict[str, float]) -> bool:
        return any(score >= thresholds[c] for c, score in self.class_scores.items())

    @property
    def defect_score(self) -> float:
        return max(self.class_scores.values(), default=0.0)


def score_images(detector: DefectDetector, samples: Iterable[tuple[np.ndarray, frozenset[str]]]) -> list[ScoredImage]:
    """Run every ``(image, true defect classes)`` sample through the engine."""
    scored = []
    for image, classes in samples:
        best: dict[str, float] = {}
        for det in detector.inspect(image).detections:
            if det.area_px >= detector.rules.min_area_px:
                best[det.cls] = max(best.get(det.cls, 0.0), det.score)
        scored.append(ScoredImage(bool(classes), classes, best))
    return scored


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def threshold_for_false_reject_rate(scored: list[ScoredImage], target_rate: float) -> float:
    """The lowest single threshold whose false-reject rate on good images is at most ``target_rate``."""
    good = np.sort([s.defect_score for s in scored if not s.defective])[::-1]
    allowed = int(np.floor(target_rate * len(good)))
    if allowed >= len(good):
        return 0.0
    # reject when score >= t: t just above the (allowed+1)-th highest good score
    return float(np.nextafter(np.float32(good[allowed]), np.float32(1.0)))


def rounded_up(threshold: float, digits: int = 4) -> float:
    """``threshold`` rounded up at ``digits`` decimals, for a readable metadata file.

    Rounding to nearest could land under the score of the good part the
    threshold was chosen to pass, and reject it on the line.
    """
    step = 10**digits
    return math.ceil(threshold * step - 1e-9) / step


def image_metrics(scored: list[ScoredImage], thresholds: dict[str, float]) -> dict:
    good = [s for s in scored if not s.defective]
    bad = [s for s in scored if s.defective]
    false_rejects = sum(s.rejected(thresholds) for s in good)
    escapes = sum(not s.rejected(thresholds) for s in bad)
    per_class = {}
    for cls in sorted({c for s in bad for c in s.true_classes}):
        with_cls = [s for s in bad if cls in s.true_classes]
        per_class[cls] = {"images": len(with_cls), "recall": sum(s.rejected(thresholds) for s in with_cls) / len(with_cls)}
    scores = np.array([s.defect_score for s in scored])
    labels = np.array([s.defective for s in scored])
    return {
        "good_images": len(good),
        "defective_images": len(bad),
        "false_rejects": false_rejects,
        "escapes": escapes,
        "false_reject_rate": false_rejects / len(good) if good else float("nan"),
        "escape_rate": escapes / len(bad) if bad else float("nan"),
        "auroc": auroc(scores, labels),
        "per_class_recall": per_class,
    }


def line_thresholds(config: DetectorConfig, metadata: ModelMetadata) -> dict[str, float]:
    """The per-class score at which a line with this detector ``config`` rejects.

    The decision rules give each class its threshold (station config, then the
    model's metadata, then the minimum confidence); the line drops detections
    under ``config.min_confidence`` before deciding, so it cannot reject below it.
    """
    rules = DecisionRules.build(
        metadata.classes, config.class_thresholds, metadata.class_thresholds, config.min_confidence, config.min_area_px,
        config.min_area_mm2,
    )
    return {c: max(t, config.min_confidence) for c, t in zip(rules.classes, rules.thresholds)}


def roc_curve(scored: list[ScoredImage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-reject rate (good images) and detection rate (defective images) at every distinct threshold.

    Returns ``(false_reject_rate, detection_rate, thresholds)``, thresholds falling,
    starting with "reject nothing" (+inf) and ending with "reject everything" (0).
    """
    scores = np.array([s.defect_score for s in scored])
    labels = np.array([s.defective for s in scored])
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    if not len(thresholds) or thresholds[-1] > 0.0:
        thresholds = np.concatenate([thresholds, [0.0]])
    good, bad = max(int((~labels).sum()), 1), max(int(labels.sum()), 1)
    frr = np.array([((scores >= t) & ~labels).sum() / good for t in thresholds])
    tpr = np.array([((scores >= t) & labels).sum() / bad for t in thresholds])
    return frr, tpr, thresholds


def per_class_detection(scored: list[ScoredImage], thresholds: dict[str, float]) -> dict[str, dict]:
    """Per true class: images, recall (the image is rejected), and the share rejected by a detection of that class."""
    out = {}
    bad = [s for s in scored if s.defective]
    for cls in sorted({c for s in bad for c in s.true_classes}):
        with_cls = [s for s in bad if cls in s.true_classes]
        own = sum(s.class_scores.get(cls, 0.0) >= thresholds.get(cls, np.inf) for s in with_cls)
        out[cls] = {
            "images": len(with_cls),
            "recall": sum(s.rejected(thresholds) for s in with_cls) / len(with_cls),
            "rejected_by_own_class": own / len(with_cls),
            "mean_defect_score": float(np.mean([s.defect_score for s in with_cls])),
        }
    return out


def operating_point(scored: list[ScoredImage], target_rate: float, classes: list[str]) -> dict:
    """The single threshold meeting ``target_rate`` false rejects on these images, and what it gives on them."""
    threshold = threshold_for_false_reject_rate(scored, target_rate)
    thresholds = {c: threshold for c in classes}
    metrics = image_metrics(scored, thresholds)
    return {
        "target_false_reject_rate": target_rate,
        "threshold": threshold,
        "false_reject_rate": metrics["false_reject_rate"],
        "escape_rate": metrics["escape_rate"],
        "per_class_recall": {c: v["recall"] for c, v in metrics["per_class_recall"].items()},
    }

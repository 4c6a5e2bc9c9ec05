"""Image-level evaluation as a plant sees it, through the line's own engine and decision rule.

Each image goes once through the same :class:`DefectDetector` the line runs.
What is kept of it is its *levels*: per class (per model and class, on a
station running several models), the highest threshold at which the decision
rule would still reject the part (:meth:`~inspector.engine.findings.Findings.levels`).
A part is rejected at a set of thresholds by
:func:`~inspector.engine.decision_rules.rejected_at`, the rule's own
comparison, so a figure measured here is what the line would have done.

Reported: false-reject rate on good parts, escape rate on defective parts,
AUROC of the part's defect score (its highest level), per-class recall, and
the threshold that meets a target false-reject rate. Scores need not lie in
0..1 (an anomaly model's normalised score is unbounded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from inspector.engine.decision_rules import rejected_at
from inspector.engine.detector import DefectDetector, Inspection
from inspector.engine.findings import NO_LEVEL


@dataclass(frozen=True)
class ScoredImage:
    """An image's truth and, per decision key (class, or ``model:class``), the level at which it is rejected."""

    defective: bool
    true_classes: frozenset[str]
    class_scores: dict[str, float] = field(default_factory=dict)

    def rejected(self, thresholds: dict[str, float]) -> bool:
        return rejected_at(self.class_scores, thresholds)

    @property
    def defect_score(self) -> float:
        """The part's score: its highest level (``-inf`` when no model found anything at all)."""
        return max(self.class_scores.values(), default=NO_LEVEL)


def decision_key(model: str, cls: str, several_models: bool) -> str:
    """The key of a class's level and threshold: the class, or ``model:class`` on a station with several models."""
    return f"{model}:{cls}" if several_models else cls


def key_class(key: str) -> str:
    """The class named by a decision key."""
    return key.rsplit(":", 1)[-1]


def inspection_levels(inspection: Inspection) -> dict[str, float]:
    several = len(inspection.judgements) > 1
    return {
        decision_key(j.model, cls, several): level for j in inspection.judgements for cls, level in j.levels.items()
    }


def line_thresholds(detector: DefectDetector) -> dict[str, float]:
    """The thresholds the line decides with, keyed like :func:`inspection_levels`."""
    several = len(detector.slots) > 1
    return {
        decision_key(slot.label, cls, several): t for slot in detector.slots for cls, t in slot.rules.by_class.items()
    }


def score_images(detector: DefectDetector, samples: Iterable[tuple[np.ndarray, frozenset[str]]]) -> list[ScoredImage]:
    """Run every ``(image, true defect classes)`` sample through the engine."""
    return [ScoredImage(bool(classes), classes, inspection_levels(detector.inspect(image))) for image, classes in samples]


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def threshold_for_false_reject_rate(scored: list[ScoredImage], target_rate: float) -> float:
    """The lowest single threshold whose false-reject rate on good images is at most ``target_rate``.

    Just above the (allowed + 1)-th highest good score, in float32 (what the
    engine's scores are computed in): the lowest float when that part had no
    finding at all (any finding rejects); ``-inf`` when every good image may
    be rejected.
    """
    good = np.sort([s.defect_score for s in scored if not s.defective])[::-1]
    allowed = int(np.floor(target_rate * len(good)))
    if allowed >= len(good):
        return NO_LEVEL
    return float(np.nextafter(np.float32(good[allowed]), np.float32(np.inf)))


def rounded_up(threshold: float, digits: int = 4) -> float:
    """``threshold`` rounded up at ``digits`` decimals, for a readable metadata file.

    Rounding to nearest could land under the score of the good part the
    threshold was chosen to pass, and reject it on the line.
    """
    step = 10**digits
    return math.ceil(threshold * step - 1e-9) / step


def _score_array(scored: list[ScoredImage]) -> np.ndarray:
    return np.array([s.defect_score for s in scored], dtype=np.float64)


def image_metrics(scored: list[ScoredImage], thresholds: dict[str, float]) -> dict:
    good = [s for s in scored if not s.defective]
    bad = [s for s in scored if s.defective]
    false_rejects = sum(s.rejected(thresholds) for s in good)
    escapes = sum(not s.rejected(thresholds) for s in bad)
    per_class = {}
    for cls in sorted({c for s in bad for c in s.true_classes}):
        with_cls = [s for s in bad if cls in s.true_classes]
        per_class[cls] = {"images": len(with_cls), "recall": sum(s.rejected(thresholds) for s in with_cls) / len(with_cls)}
    labels = np.array([s.defective for s in scored])
    return {
        "good_images": len(good),
        "defective_images": len(bad),
        "false_rejects": false_rejects,
        "escapes": escapes,
        "false_reject_rate": false_rejects / len(good) if good else float("nan"),
        "escape_rate": escapes / len(bad) if bad else float("nan"),
        "auroc": auroc(_score_array(scored), labels),
        "per_class_recall": per_class,
    }


def roc_curve(scored: list[ScoredImage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-reject rate (good images) and detection rate (defective images) at every distinct threshold.

    Returns ``(false_reject_rate, detection_rate, thresholds)``, thresholds falling,
    starting with "reject nothing" (+inf) and ending with "reject everything" (-inf).
    """
    scores = _score_array(scored)
    labels = np.array([s.defective for s in scored], dtype=bool)
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    if thresholds[-1] > NO_LEVEL:
        thresholds = np.concatenate([thresholds, [NO_LEVEL]])
    good, bad = max(int((~labels).sum()), 1), max(int(labels.sum()), 1)
    frr = np.array([((scores >= t) & ~labels).sum() / good for t in thresholds])
    tpr = np.array([((scores >= t) & labels).sum() / bad for t in thresholds])
    return frr, tpr, thresholds


def per_class_detection(scored: list[ScoredImage], thresholds: dict[str, float]) -> dict[str, dict]:
    """Per true class: images, recall (the image is rejected), and the share rejected by a finding of that class."""
    out = {}
    bad = [s for s in scored if s.defective]
    for cls in sorted({c for s in bad for c in s.true_classes}):
        with_cls = [s for s in bad if cls in s.true_classes]
        own = sum(
            any(level >= thresholds[key] for key, level in s.class_scores.items() if key_class(key) == cls)
            for s in with_cls
        )
        scores = [s.defect_score for s in with_cls]
        finite = [v for v in scores if math.isfinite(v)]
        out[cls] = {
            "images": len(with_cls),
            "recall": sum(s.rejected(thresholds) for s in with_cls) / len(with_cls),
            "rejected_by_own_class": own / len(with_cls),
            "mean_defect_score": float(np.mean(finite)) if finite else float("nan"),  # of the images with a finding
            "nothing_found": len(scores) - len(finite),
        }
    return out


def operating_point(scored: list[ScoredImage], target_rate: float) -> dict:
    """The single threshold meeting ``target_rate`` false rejects on these images, and what it gives on them."""
    threshold = threshold_for_false_reject_rate(scored, target_rate)
    keys = sorted({k for s in scored for k in s.class_scores})
    metrics = image_metrics(scored, {k: threshold for k in keys})
    return {
        "target_false_reject_rate": target_rate,
        "threshold": threshold,
        "false_reject_rate": metrics["false_reject_rate"],
        "escape_rate": metrics["escape_rate"],
        "per_class_recall": {c: v["recall"] for c, v in metrics["per_class_recall"].items()},
    }

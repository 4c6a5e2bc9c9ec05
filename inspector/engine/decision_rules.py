"""The decision rule: which findings reject a part. The one copy of it.

A candidate defect (a detector's box, a region of an anomaly or segmentation
map) rejects the part when its score reaches its class's threshold and it
covers at least the class's minimum area: ``detector.min_area_px`` and, on a
camera with a measured pixel scale, the class's ``detector.min_area_mm2``.
Thresholds come from the station config first, then the model's metadata
(the operating point chosen at export), then, for families with a minimum
confidence, that minimum; a family that discards scores below a floor
(YOLO's ``min_confidence``, a station setting of the family:
``detector.families.yolo.min_confidence``) cannot reject below it, so its
thresholds are raised to it.

The line (:class:`~inspector.engine.detector.DefectDetector`), ``evaluate``,
``export``, ``verify``, ``bench`` and the INT8 comparison all decide through
:meth:`DecisionRules.judge` or, for a frame scored once and decided at many
thresholds, :func:`rejected_at` on the frame's levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inspector.engine.findings import Findings
from inspector.errors import ConfigError, ModelError
from inspector.messages import Detection


def rejected_at(levels: dict[str, float], thresholds: dict[str, float]) -> bool:
    """A frame whose per-class levels are ``levels`` is rejected at ``thresholds``."""
    return any(level >= thresholds[cls] for cls, level in levels.items())


@dataclass(frozen=True)
class Judgement:
    """The rule applied to one model's findings on one frame."""

    model: str
    detections: list[Detection]
    levels: dict[str, float]  # per class: the highest threshold at which the frame is rejected
    rejected: bool
    part_score: float


@dataclass(frozen=True)
class DecisionRules:
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    min_area_px: float
    min_area_mm2: tuple[float, ...] = ()  # per class; empty = no mm² minimum

    @classmethod
    def build(
        cls,
        classes: list[str],
        config_thresholds: dict[str, float],
        model_thresholds: dict[str, float],
        score_floor: float | None,
        min_area_px: float,
        min_area_mm2: dict[str, float] | None = None,
        field: str = "detector",
    ) -> "DecisionRules":
        """The rules for a model's ``classes``.

        ``score_floor``: the lowest score the family keeps (YOLO's
        ``detector.families.yolo.min_confidence``), which is also the
        threshold of a class neither the station nor the model sets; None for
        families that keep every score, whose classes must then have a
        threshold. ``field`` is the config section the per-class settings came
        from, for error messages.
        """
        min_area_mm2 = min_area_mm2 or {}
        for name, per_class in (("class_thresholds", config_thresholds), ("min_area_mm2", min_area_mm2)):
            unknown = sorted(set(per_class) - set(classes))
            if unknown:
                raise ConfigError(
                    f"{field}.{name}.{unknown[0]}", f"the model has no class {unknown[0]!r} (classes: {', '.join(classes)})"
                )
        negative = sorted(c for c, v in min_area_mm2.items() if v < 0)
        if negative:
            raise ConfigError(f"{field}.min_area_mm2.{negative[0]}", f"must be at least 0, got {min_area_mm2[negative[0]]}")
        not_finite = sorted(c for c, v in config_thresholds.items() if not math.isfinite(v))
        if not_finite:
            raise ConfigError(f"{field}.class_thresholds.{not_finite[0]}", "must be a finite number")
        thresholds = []
        for c in classes:
            threshold = config_thresholds.get(c, model_thresholds.get(c, score_floor))
            if threshold is None:
                raise ModelError(
                    f"the model sets no reject threshold for class {c!r} and the station none either "
                    f"({field}.class_thresholds.{c})"
                )
            thresholds.append(threshold if score_floor is None else max(threshold, score_floor))
        return cls(tuple(classes), tuple(thresholds), min_area_px, tuple(min_area_mm2.get(c, 0.0) for c in classes))

    @property
    def by_class(self) -> dict[str, float]:
        return dict(zip(self.classes, self.thresholds))

    def min_areas_px(self, mm_per_px: float | None = None) -> tuple[float, ...]:
        """Per class, the area (frame pixels) a finding must cover to reject, on a camera of scale ``mm_per_px``."""
        if not mm_per_px or not self.min_area_mm2:
            return (self.min_area_px,) * len(self.classes)
        return tuple(max(self.min_area_px, mm2 / (mm_per_px * mm_per_px)) for mm2 in self.min_area_mm2)

    def judge(self, findings: Findings, model: str = "", mm_per_px: float | None = None) -> Judgement:
        """Mark each finding with whether it rejects the part, and decide."""
        min_areas = self.min_areas_px(mm_per_px)
        detections = []
        for r in findings.regions:
            area_mm2 = round(r.area_px * mm_per_px * mm_per_px, 3) if mm_per_px else None
            detections.append(
                Detection(
                    cls=self.classes[r.class_id],
                    score=round(r.score, 4),
                    box=tuple(round(v, 1) for v in r.box),
                    area_px=round(r.area_px, 1),
                    causes_reject=r.score >= self.thresholds[r.class_id] and r.area_px >= min_areas[r.class_id],
                    area_mm2=area_mm2,
                    model=model,
                    outline=[[x, y] for x, y in r.outline],
                )
            )
        levels = dict(zip(self.classes, findings.levels(min_areas)))
        rejected = rejected_at(levels, self.by_class)
        return Judgement(model, detections, levels, rejected, findings.part_score)

"""Decision rules: which detections reject a part.

A detection rejects when its score reaches its class's threshold and its box
is at least the minimum defect area (pixels; and, on a camera with a measured
pixel scale, the class's minimum area in mm²). Thresholds come from the
station config first, then the model's metadata (the operating point chosen
at training), then the detector's minimum confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.errors import ConfigError
from inspector.messages import Detection


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
        default_threshold: float,
        min_area_px: float,
        min_area_mm2: dict[str, float] | None = None,
    ) -> "DecisionRules":
        min_area_mm2 = min_area_mm2 or {}
        for field, per_class in (("class_thresholds", config_thresholds), ("min_area_mm2", min_area_mm2)):
            unknown = sorted(set(per_class) - set(classes))
            if unknown:
                raise ConfigError(
                    f"detector.{field}.{unknown[0]}",
                    f"the model has no class {unknown[0]!r} (classes: {', '.join(classes)})",
                )
        negative = sorted(c for c, v in min_area_mm2.items() if v < 0)
        if negative:
            raise ConfigError(f"detector.min_area_mm2.{negative[0]}", f"must be at least 0, got {min_area_mm2[negative[0]]}")
        outside = sorted(c for c, v in config_thresholds.items() if not 0.0 <= v <= 1.0)
        if outside:
            raise ConfigError(f"detector.class_thresholds.{outside[0]}", f"must lie in [0, 1], got {config_thresholds[outside[0]]}")
        thresholds = tuple(
            config_thresholds.get(c, model_thresholds.get(c, default_threshold)) for c in classes
        )
        return cls(tuple(classes), thresholds, min_area_px, tuple(min_area_mm2.get(c, 0.0) for c in classes))

    def detections(
        self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, mm_per_px: float | None = None
    ) -> list[Detection]:
        """Frame-pixel detections, each marked with whether it rejects the part.

        With the camera's scale (``mm_per_px``) each detection also gets its area
        in mm², and the class's mm² minimum applies.
        """
        out = []
        for box, score, cid in zip(boxes.tolist(), scores.tolist(), class_ids.tolist()):
            area = (box[2] - box[0]) * (box[3] - box[1])
            area_mm2 = round(area * mm_per_px * mm_per_px, 3) if mm_per_px else None
            rejects = score >= self.thresholds[cid] and area >= self.min_area_px
            if rejects and area_mm2 is not None and self.min_area_mm2:
                rejects = area_mm2 >= self.min_area_mm2[cid]
            out.append(
                Detection(
                    cls=self.classes[cid],
                    score=round(score, 4),
                    box=tuple(round(v, 1) for v in box),
                    area_px=round(area, 1),
                    causes_reject=rejects,
                    area_mm2=area_mm2,
                )
            )
        return out

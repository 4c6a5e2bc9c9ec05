"""Decision rules: which detections reject a part.

A detection rejects when its score reaches its class's threshold and its box
is at least the minimum defect area. Thresholds come from the station config
first, then the model's metadata (the operating point chosen at training),
then the detector's minimum confidence.
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

    @classmethod
    def build(
        cls,
        classes: list[str],
        config_thresholds: dict[str, float],
        model_thresholds: dict[str, float],
        default_threshold: float,
        min_area_px: float,
    ) -> "DecisionRules":
        unknown = sorted(set(config_thresholds) - set(classes))
        if unknown:
            raise ConfigError(
                f"detector.class_thresholds.{unknown[0]}",
                f"the model has no class {unknown[0]!r} (classes: {', '.join(classes)})",
            )
        thresholds = tuple(
            config_thresholds.get(c, model_thresholds.get(c, default_threshold)) for c in classes
        )
        return cls(tuple(classes), thresholds, min_area_px)

    def detections(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray) -> list[Detection]:
        """Frame-pixel detections, each marked with whether it rejects the part."""
        out = []
        for box, score, cid in zip(boxes.tolist(), scores.tolist(), class_ids.tolist()):
            area = (box[2] - box[0]) * (box[3] - box[1])
            rejects = score >= self.thresholds[cid] and area >= self.min_area_px
            out.append(
                Detection(
                    cls=self.classes[cid],
                    score=round(score, 4),
                    box=tuple(round(v, 1) for v in box),
                    area_px=round(area, 1),
                    causes_reject=rejects,
                )
            )
        return out

"""The YOLO detector family: letterbox in, class-scored boxes out (ultralytics' exported detectors).

Pre-processing is :class:`~inspector.engine.letterbox.Letterbox` (ultralytics'
own, into one reused tensor); post-processing decodes the ``1 x (4 + C) x N``
output, keeps scores from ``min_confidence`` and runs class-aware NMS at
``iou_threshold`` (:mod:`~inspector.engine.yolo_decode`), then maps the boxes
back to frame pixels. Scores are class probabilities (0..1).

Its station settings are ``detector.families.yolo``
(:class:`~inspector.config.families.YoloSettings`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from inspector.config.families import YoloSettings
from inspector.engine.families.base import ModelFamily
from inspector.engine.families.registry import register_family
from inspector.engine.findings import Findings
from inspector.engine.letterbox import Letterbox
from inspector.engine.yolo_decode import decode_yolo
from inspector.errors import ModelError


@register_family
class YoloFamily(ModelFamily):
    name = "yolo"
    settings_type = YoloSettings
    settings: YoloSettings
    uses_min_confidence = True

    def __init__(self, metadata, config, score_floor=None) -> None:
        super().__init__(metadata, config, score_floor)
        self.letterbox = Letterbox(tuple(metadata.input_size))
        self.classes = tuple(metadata.classes)

    @property
    def input_tensor(self) -> np.ndarray:
        return self.letterbox.tensor

    def check_model(self, input_shape: list, output_shapes: list[list]) -> None:
        meta = self.metadata
        if list(input_shape[2:]) != list(meta.input_size):
            raise ModelError(f"model input is {input_shape[2:]}, its metadata says {list(meta.input_size)}")
        output_shape = output_shapes[0]
        if isinstance(output_shape[1], int) and output_shape[1] != 4 + len(meta.classes):
            raise ModelError(
                f"model output has {output_shape[1] - 4} class scores, its metadata lists {len(meta.classes)} classes"
            )

    def preprocess(self, frame: np.ndarray) -> Iterator[np.ndarray]:
        yield self.letterbox(frame)

    def postprocess(self, outputs: list[list[np.ndarray]], thresholds: tuple[float, ...]) -> Findings:
        raw = decode_yolo(outputs[0][0], self.score_floor, self.settings.iou_threshold)
        boxes = self.letterbox.geometry.to_frame(raw.boxes)
        scores = self.metadata.score_normalisation.apply(raw.scores)
        return Findings.from_boxes(self.classes, boxes, scores, raw.class_ids)

"""Letterbox pre-processing into a reused input tensor.

Matches ultralytics' ``LetterBox(auto=False, center=True)`` and its
``preprocess`` (RGB, CHW, /255) so the ONNX model sees exactly what it saw in
training. The padding is written once per frame shape; each frame only
resizes into the content region. Mono frames fill all three channels with
the same plane, which is what ultralytics feeds a grey image read as BGR.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where a frame of ``frame_hw`` lands in the ``input_hw`` model input."""

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]
    gain: float
    content_hw: tuple[int, int]
    top: int
    left: int

    @classmethod
    def fit(cls, frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> "LetterboxGeometry":
        h, w = frame_hw
        gain = min(input_hw[0] / h, input_hw[1] / w)
        content_w, content_h = int(round(w * gain)), int(round(h * gain))
        dw = (input_hw[1] - content_w) / 2
        dh = (input_hw[0] - content_h) / 2
        return cls(frame_hw, input_hw, gain, (content_h, content_w), int(round(dh - 0.1)), int(round(dw - 0.1)))

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``N x 4`` xyxy boxes from model input to frame pixels, clipped to the frame."""
        out = boxes.copy()
        out[:, [0, 2]] -= self.left
        out[:, [1, 3]] -= self.top
        out /= self.gain
        # column by column: a fancy-indexed out= would clip a temporary copy
        for col, limit in ((0, self.frame_hw[1]), (1, self.frame_hw[0]), (2, self.frame_hw[1]), (3, self.frame_hw[0])):
            np.clip(out[:, col], 0, limit, out=out[:, col])
        return out


class Letterbox:
    """Turns frames into the model's ``1 x 3 x H x W`` float32 input, reusing buffers."""

    def __init__(self, input_hw: tuple[int, int]) -> None:
        self.input_hw = input_hw
        self.tensor = np.empty((1, 3, *input_hw), np.float32)
        self.geometry: LetterboxGeometry | None = None
        self._resized: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        geom = self._geometry_for(frame)
        ch, cw = geom.content_hw
        if frame.ndim == 2:
            cv2.resize(frame, (cw, ch), dst=self._resized, interpolation=cv2.INTER_LINEAR)
            region = self.tensor[0, :, geom.top : geom.top + ch, geom.left : geom.left + cw]
            np.multiply(self._resized, np.float32(1 / 255), out=region[0])
            region[1] = region[0]
            region[2] = region[0]
        else:
            cv2.resize(frame, (cw, ch), dst=self._resized, interpolation=cv2.INTER_LINEAR)
            for c in range(3):  # BGR frame -> RGB planes
                region = self.tensor[0, c, geom.top : geom.top + ch, geom.left : geom.left + cw]
                np.multiply(self._resized[:, :, 2 - c], np.float32(1 / 255), out=region)
        return self.tensor

    def _geometry_for(self, frame: np.ndarray) -> LetterboxGeometry:
        frame_hw = frame.shape[:2]
        if self.geometry is None or self.geometry.frame_hw != frame_hw or self._resized is None or (
            self._resized.ndim != frame.ndim
        ):
            self.geometry = LetterboxGeometry.fit(frame_hw, self.input_hw)
            ch, cw = self.geometry.content_hw
            self._resized = np.empty((ch, cw, *frame.shape[2:]), np.uint8)
            self.tensor.fill(PAD_VALUE / 255)
        return self.geometry

"""The image gate: frames no model should judge are failed safe before inference.

Reference-free and cheap (a strided sample of about 4,000 pixels, well under
a millisecond): a camera that is covered, blinded, disconnected behind a
frame grabber that keeps sending its last buffer, or a lamp that died must
never produce a PASS. Checked on every frame, before the model:

- **blank**: the frame is (nearly) one grey level: all black, all white, a
  lens cap, a cable fault;
- **saturated**: a large share of the frame is at the sensor's maximum:
  blinded by a reflection or a wrong exposure;
- **frozen**: the same pixels as the previous frames of that camera: a
  stalled camera or driver repeating its last buffer.

Limits live in ``detector.image_gate``; the reason names the measured value
and the limit. The stored-reference checks of focus, exposure and lighting
(``inspector calibrate``) are separate and periodic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from inspector.config.schema import ImageGateConfig

SAMPLE_POINTS = 64  # per axis


@dataclass
class _CameraState:
    last_digest: bytes = b""
    repeats: int = 0


class ImageGate:
    def __init__(self, config: ImageGateConfig) -> None:
        self.config = config
        self._cameras: dict[str, _CameraState] = {}

    def problem(self, camera: str, pixels: np.ndarray) -> str:
        """Why this frame must not be judged, or '' when it may."""
        if not self.config.enabled:
            return ""
        step_y = max(1, pixels.shape[0] // SAMPLE_POINTS)
        step_x = max(1, pixels.shape[1] // SAMPLE_POINTS)
        sample = pixels[::step_y, ::step_x]
        full_scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
        grey = sample.astype(np.float32) * (255.0 / full_scale)  # limits are in 8-bit grey levels
        contrast = float(grey.std())
        if contrast < self.config.min_contrast:
            return (f"blank frame: contrast {contrast:.1f} grey levels (std) below {self.config.min_contrast:g}, "
                    f"mean level {float(grey.mean()):.0f}")
        saturated = float(np.mean(sample >= full_scale))
        if saturated > self.config.max_saturated_fraction:
            return f"saturated frame: {saturated:.0%} of pixels at full scale, above {self.config.max_saturated_fraction:.0%}"
        return self._frozen(camera, pixels)

    def _frozen(self, camera: str, pixels: np.ndarray) -> str:
        if self.config.frozen_frames <= 0:
            return ""
        rows = np.ascontiguousarray(pixels[::8])  # every 8th row: a stalled buffer repeats, sensor noise never does
        digest = hashlib.blake2b(memoryview(rows).cast("B"), digest_size=16).digest()
        state = self._cameras.setdefault(camera, _CameraState())
        state.repeats = state.repeats + 1 if digest == state.last_digest else 0
        state.last_digest = digest
        if state.repeats >= self.config.frozen_frames - 1:
            return f"frozen camera: the same frame {state.repeats + 1} times in a row (limit {self.config.frozen_frames})"
        return ""

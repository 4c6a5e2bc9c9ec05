"""Synthetic parts as a camera: part ``k`` of the run is generator part ``k``.

Rendering a part takes longer than a real camera's exposure, so the next part
is rendered between triggers (:meth:`prepare_next`) and a grab only hands it
over; latency figures then measure the line, not the renderer.
"""

from __future__ import annotations

import time

from camera_drivers.base import Grab, HostPacedDriver
from inspector.synthetic import PartGenerator, SyntheticPart


class SyntheticCamera(HostPacedDriver):
    def open_source(self) -> None:
        cfg = self.config
        self._generator = PartGenerator(cfg.width, cfg.height, cfg.defect_rate, cfg.seed)
        self._index = 0
        self._prepared: SyntheticPart | None = None

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "pixel_format": "Mono8", "width": self.config.width, "height": self.config.height}

    def prepare_next(self) -> None:
        if self._prepared is None:
            self._prepared = self._generator.part(self._index)

    def next_frame(self) -> Grab:
        self.prepare_next()
        part, self._prepared = self._prepared, None
        source = self._generator.source(self._index)
        frame_id = self._index
        self._index += 1
        return Grab(part.image, "Mono8", source, time.time(), frame_id)

"""Camera service: triggers parts at the configured rate and publishes them.

At each trigger it allocates a part id, tells the actuator the part was seen
(which starts the part's deadline), captures the image and sends the frame to
the detectors. A part whose image cannot be captured or delivered still has
its part-seen event, so the actuator gives it a fail-safe decision.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from camera_drivers import make_driver
from inspector.config.schema import Config
from inspector.errors import CameraError
from inspector.messages import FrameHeader, PartSeen
from inspector.part_ids import PartIdAllocator
from inspector.services.base import Service
from inspector.transport import open_socket, send_frame, send_message

log = logging.getLogger(__name__)


class CameraService(Service):
    kind = "camera"

    def __init__(self, config: Config, camera: str | None = None) -> None:
        cam = config.camera(camera) if camera else config.cameras[0]
        super().__init__(config, cam.name)
        self.camera = cam
        self.period = 1.0 / cam.rate_hz

    def setup(self) -> None:
        t = self.config.transport
        self.frames = open_socket(self.ctx, "push", t.frames, bind=True, hwm=t.high_water_mark)
        self.part_seen = open_socket(self.ctx, "push", t.part_seen, bind=False, hwm=t.high_water_mark)
        self.part_ids = PartIdAllocator(Path(self.config.station.state_dir) / f"part-id-{self.camera.name}")
        self.driver = make_driver(self.camera)
        self.driver.open()
        self.seq = 0
        self.next_trigger = time.monotonic() + 0.5  # give connecting peers a moment

    def step(self, timeout_s: float) -> None:
        if self.camera.max_parts and self.counters["triggered"] >= self.camera.max_parts:
            time.sleep(timeout_s)
            return
        wait = self.next_trigger - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            return
        if wait > 0:
            time.sleep(wait)
        self.next_trigger += self.period
        if self.next_trigger < time.monotonic():  # fell behind: do not burst to catch up
            self.counters["trigger_overruns"] += 1
            self.next_trigger = time.monotonic() + self.period
        self.trigger()

    def trigger(self) -> None:
        station = self.config.station.name
        self.seq += 1
        part_id = self.part_ids.next()
        t_trigger = time.time()
        self.counters["triggered"] += 1
        seen = PartSeen(station, self.camera.name, part_id, self.seq, t_trigger)
        if not send_message(self.part_seen, seen):
            self.counters["part_seen_undelivered"] += 1
            log.error("part %d: actuator queue full; part-seen event not delivered", part_id)
        try:
            grab = self.driver.capture()
        except CameraError as err:
            self.counters["capture_failed"] += 1
            log.error("part %d: capture failed, it will get a fail-safe decision: %s", part_id, err)
            return
        pixels = grab.pixels
        header = FrameHeader(
            station=station,
            camera=self.camera.name,
            part_id=part_id,
            seq=self.seq,
            t_trigger=t_trigger,
            t_capture=grab.t_capture,
            height=pixels.shape[0],
            width=pixels.shape[1],
            channels=1 if pixels.ndim == 2 else pixels.shape[2],
            dtype=str(pixels.dtype),
            pixel_format=grab.pixel_format,
            source=grab.source,
        )
        if send_frame(self.frames, header, pixels):
            self.counters["frames_sent"] += 1
        else:
            self.counters["frames_undelivered"] += 1
            log.warning("part %d: no detector ready to take the frame; it will get a fail-safe decision", part_id)
        self.driver.prepare_next()

    def teardown(self) -> None:
        if hasattr(self, "driver"):
            self.driver.close()

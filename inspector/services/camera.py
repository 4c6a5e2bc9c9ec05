"""Camera service: one part per trigger, its frame to the detectors, its part-seen event to the actuator.

Software and free-run modes: the service triggers parts at ``rate_hz``. At each
trigger it allocates a part id, tells the actuator the part was seen (which
starts the part's deadline), triggers the camera and grabs that part's frame.
Hardware mode: the camera is triggered on a line input; every frame (or
incomplete buffer) the camera delivers is a part, and a jump in the camera's
frame counter is a part whose buffer was lost: it gets a part-seen event and
no frame.

An image that is cut, damaged (the decoder warned) or larger than the
camera's frame limit (``cameras[].max_frame_mb``) is refused the same way,
never inspected: its part gets the fail-safe, and the ``image_refused`` event
names the part and the reason.

A part whose frame is lost, incomplete or late therefore still has its
part-seen event, so the actuator gives it the fail-safe decision at its
deadline; the drivers guarantee that a late frame is never given to another
part (see :mod:`camera_drivers.base`). Each such frame is counted.

Every trigger is journaled (part id, sequence number, trigger time) before its
part-seen event is sent (:mod:`inspector.records.trigger_journal`): a part
whose event is lost with a frozen or killed actuator, or in this service's
queue to it, is still decided by the actuator, which reads the journal. A
journal that cannot be written never stops triggering: it raises the
``trigger_journal_failed`` condition, cleared at the next write that works.

A camera that goes away raises an alarm (``camera_lost``) to the actuator and
is reopened in the background with back-off while the line keeps running:
parts triggered meanwhile get their part-seen event and so a fail-safe
decision. When the camera is back the alarm is cleared.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from calibration.health import HealthMonitor, load_reference, reference_file
from calibration.station import calibration_paths
from camera_drivers import CameraDriver, make_driver
from camera_drivers.base import CameraLost, Grab, GrabTimeout, IncompleteGrab
from inspector.config.schema import Config
from inspector.errors import CameraError, ImageRefused, StoreError
from inspector.messages import FrameHeader, PartSeen
from inspector.part_ids import PartIdAllocator
from inspector.services.base import Service
from inspector.frame_ring import CameraRing, frame_limit_bytes
from inspector.records.trigger_journal import TriggerJournal
from inspector.transport import send_frame, send_frame_header, send_message

log = logging.getLogger(__name__)

JOURNAL_REOPEN_S = 10.0  # a trigger journal that could not be opened is tried again this often

class CameraService(Service):
    kind = "camera"

    def __init__(self, config: Config, camera: str | None = None) -> None:
        cam = config.camera(camera) if camera else config.cameras[0]
        super().__init__(config, cam.name)
        self.camera = cam
        self.period = 1.0 / cam.rate_hz
        self.driver: CameraDriver | None = None
        self._lock = threading.Lock()
        self._reopener: threading.Thread | None = None
        self._reopened: tuple[CameraDriver, int] | None = None  # handed from the reopen thread to the loop
        self._lost_since = 0.0
        self.trigger_journal: TriggerJournal | None = None
        self._journal_retry_at = 0.0
        self._journal_failing = False

    def setup(self) -> None:
        self.frames = self.sockets.open("frames")
        self.ring = CameraRing(self.config, self.camera.name)
        self.part_seen = self.sockets.open("part_seen")
        self.part_ids = PartIdAllocator(Path(self.config.station.state_dir) / f"part-id-{self.camera.name}")
        self._open_trigger_journal()
        driver = make_driver(self.camera)
        driver.open()  # a camera that cannot be opened at start stops the service with the reason
        self.driver = driver
        self.frame_stats = driver.stats  # late / incomplete / lost frames, kept across reopens
        settings = driver.settings()
        log.info("camera %s settings: %s", self.camera.name, settings)
        self._check_frame_limit(settings)
        self.health = self._health_monitor()
        self.seq = 0
        self.next_trigger = time.monotonic() + 0.5  # give connecting peers a moment

    def _check_frame_limit(self, settings: dict[str, object]) -> None:
        """Say at start when the camera reports frames its frame limit will refuse (a size that was never declared)."""
        roi = settings.get("roi")
        size = roi if isinstance(roi, dict) else settings
        try:
            pixels = int(size.get("width") or 0) * int(size.get("height") or 0)
        except (TypeError, ValueError):
            return
        limit = frame_limit_bytes(self.config, self.camera.name)
        if pixels > limit:
            log.error("camera %s reports %s x %s frames, above its frame limit of %.1f MiB: its parts will be failed "
                      "safe; declare the camera's width and height, or set cameras[].max_frame_mb",
                      self.camera.name, size.get("width"), size.get("height"), limit / 1024 / 1024)

    def _health_monitor(self) -> HealthMonitor | None:
        """Image-health checks against the camera's stored reference, when it has one."""
        folder = calibration_paths(self.config).folder
        if not reference_file(folder, self.camera.name).exists():
            log.info("camera %s has no image-health reference in %s; image health is not monitored", self.camera.name, folder)
            return None
        reference = load_reference(folder, self.camera.name)
        return HealthMonitor(self.config.station.name, self.camera.name, reference, self.config.calibration.health)

    # -- counters -------------------------------------------------------------------------------------
    def heartbeat_counters(self) -> dict[str, int]:
        frames = {f"frames_{k}": v for k, v in getattr(self, "frame_stats", {}).items()}
        return {**self.counters, **frames}

    # -- the loop ---------------------------------------------------------------------------------------
    def step(self, timeout_s: float) -> None:
        self._install_reopened()
        if self.camera.max_parts and self.counters["triggered"] >= self.camera.max_parts:
            time.sleep(timeout_s)
            return
        if self.camera.trigger_mode == "hardware":
            self._step_hardware(timeout_s)
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
        """A part is in front of the camera: announce it, then capture and send its frame."""
        part_id, t_trigger = self._announce_part(time.time())
        driver = self.driver
        if driver is None:
            self.counters["parts_while_camera_lost"] += 1
            log.warning("part %d: camera %s is lost; it will get a fail-safe decision", part_id, self.camera.name)
            return
        try:
            driver.trigger()
            grab = driver.grab()
        except CameraError as err:
            self._capture_failed(part_id, err)
            return
        self._send_frame(part_id, t_trigger, grab)
        driver.prepare_next()

    def _step_hardware(self, timeout_s: float) -> None:
        driver = self.driver
        if driver is None:
            time.sleep(timeout_s)
            return
        try:
            grab = driver.grab(timeout_s)
        except GrabTimeout:  # no part passed
            return
        except IncompleteGrab as err:
            self._account_missing_frames(err.frame_id)
            part_id, _ = self._announce_part(time.time())
            self._capture_failed(part_id, err)
            return
        except CameraError as err:
            self._capture_failed(None, err)
            return
        self._account_missing_frames(grab.frame_id)
        part_id, t_trigger = self._announce_part(grab.t_capture)
        self._send_frame(part_id, t_trigger, grab)

    def _account_missing_frames(self, frame_id: int | None) -> None:
        """Hardware trigger: a gap in the camera's frame counter is parts whose buffers never arrived."""
        last, self._last_frame_id = getattr(self, "_last_frame_id", None), frame_id
        if frame_id is None or last is None or not 0 < frame_id - last - 1 < 1000:
            return
        for missing in range(last + 1, frame_id):
            self.driver.stats["lost"] += 1
            part_id, _ = self._announce_part(time.time())
            log.error("part %d: camera frame %d never arrived; it will get a fail-safe decision", part_id, missing)

    # -- one part -----------------------------------------------------------------------------------------
    def _announce_part(self, t_trigger: float) -> tuple[int, float]:
        self.seq += 1
        part_id = self.part_ids.next()
        self.counters["triggered"] += 1
        self._journal_trigger(part_id, t_trigger)
        seen = PartSeen(self.config.station.name, self.camera.name, part_id, self.seq, t_trigger)
        if not send_message(self.part_seen, seen):
            self.counters["part_seen_undelivered"] += 1
            log.error("part %d: actuator queue full; part-seen event not delivered", part_id)
        return part_id, t_trigger

    def _open_trigger_journal(self) -> None:
        self._journal_retry_at = time.monotonic() + JOURNAL_REOPEN_S
        try:
            self.trigger_journal = TriggerJournal(self.config.station.state_dir, self.camera.name,
                                                  self.config.actuator.journal_keep_hours)
        except StoreError as err:
            self._journal_failed(err)

    def _journal_trigger(self, part_id: int, t_trigger: float) -> None:
        """The trigger on disk before its part-seen event goes out; a failure is alarmed, never stops the part."""
        if self.trigger_journal is None and time.monotonic() >= self._journal_retry_at:
            self._open_trigger_journal()
        if self.trigger_journal is None:
            self.counters["trigger_journal_failed"] += 1
            return
        try:
            self.trigger_journal.record(part_id, self.seq, t_trigger)
        except StoreError as err:
            self._journal_failed(err)
            return
        if self._journal_failing:
            self._journal_failing = False
            self.alarm.clear("trigger_journal_failed", f"camera {self.camera.name}'s trigger journal is written again")

    def _journal_failed(self, err: StoreError) -> None:
        self.counters["trigger_journal_failed"] += 1
        if not self._journal_failing:
            self._journal_failing = True
            log.error("camera %s: triggers are not journaled: %s", self.camera.name, err)
            self.alarm.raise_("trigger_journal_failed", f"camera {self.camera.name}'s triggers are not journaled, a "
                              f"part-seen event lost with a frozen actuator may lose its part: {err}")

    def _capture_failed(self, part_id: int | None, err: CameraError) -> None:
        what = f"part {part_id}" if part_id is not None else f"camera {self.camera.name}"
        if isinstance(err, CameraLost):
            self._camera_lost(err)
        elif isinstance(err, GrabTimeout):
            self.counters["frames_lost_on_grab"] += 1
        elif isinstance(err, IncompleteGrab):
            self.counters["frames_incomplete_on_grab"] += 1
        elif isinstance(err, ImageRefused):  # cut, damaged or too large: never inspected; the reason goes on record
            self.counters["images_refused"] += 1
            self.alarm.event("image_refused", f"{what}: {err}", part_id=part_id, source=f"camera:{self.camera.name}")
        else:
            self.counters["capture_failed"] += 1
        log.error("%s: no image (%s); it gets a fail-safe decision", what, err)

    def _send_frame(self, part_id: int, t_trigger: float, grab: Grab) -> None:
        pixels = grab.pixels
        header = FrameHeader(
            station=self.config.station.name,
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
        try:
            in_ring = self.ring.place(header, pixels)
        except ImageRefused as err:  # above the camera's frame limit: not copied, not sent
            self._capture_failed(part_id, err)
            return
        sent = send_frame_header(self.frames, in_ring) if in_ring else send_frame(self.frames, header, pixels)
        if sent:
            self.counters["frames_sent"] += 1
        else:
            self.counters["frames_undelivered"] += 1
            log.warning("part %d: no detector ready to take the frame; it will get a fail-safe decision", part_id)
        if self.health is not None:  # checks only when due (every calibration.health.period_s)
            for alarm in self.health.observe(pixels, time.time()):
                self.alarm.set(alarm.code, alarm.active, alarm.text, source=alarm.source)

    # -- losing and reopening the camera ---------------------------------------------------------------

    def _camera_lost(self, err: CameraError) -> None:
        driver, self.driver = self.driver, None
        if driver is None:
            return
        self._lost_since = time.monotonic()
        self.counters["camera_lost"] += 1
        self.alarm.raise_("camera_lost", f"camera {self.camera.name} lost: {err}; reopening")
        try:
            driver.close()
        except CameraError as close_err:
            log.warning("camera %s: closing the lost camera failed: %s", self.camera.name, close_err)
        self._reopener = threading.Thread(target=self._reopen, args=(driver.stats,), name=f"reopen-{self.camera.name}", daemon=True)
        self._reopener.start()

    def _reopen(self, stats) -> None:
        """Reopen with back-off until it works or the service stops (runs beside the trigger loop)."""
        delay = self.camera.reconnect_backoff_initial_s
        attempts = 0
        while not self._stop.wait(delay):
            attempts += 1
            driver = make_driver(self.camera)
            driver.stats = stats  # counts continue across reopens
            try:
                driver.open()
            except CameraError as err:
                log.warning("camera %s: reopen attempt %d failed: %s; next in %.1fs", self.camera.name, attempts, err, delay)
                delay = min(delay * 2, self.camera.reconnect_backoff_max_s)
                continue
            with self._lock:
                self._reopened = (driver, attempts)
            return

    def _install_reopened(self) -> None:
        """Take over a camera the reopen thread brought back (sockets stay on this thread)."""
        with self._lock:
            reopened, self._reopened = self._reopened, None
        if reopened is None:
            return
        driver, attempts = reopened
        self.driver = driver
        self.counters["camera_reopened"] += 1
        away = time.monotonic() - self._lost_since
        self.alarm.clear(
            "camera_lost",
            f"camera {self.camera.name} reopened after {away:.1f}s ({attempts} attempt(s)); "
            f"{self.counters['parts_while_camera_lost']} part(s) so far had no image while it was lost",
        )
        log.info("camera %s reopened after %.1fs", self.camera.name, away)

    def teardown(self) -> None:
        self.stop()
        if self._reopener is not None:
            self._reopener.join(30)
        with self._lock:
            reopened, self._reopened = self._reopened, None
        for driver in (self.driver, reopened[0] if reopened else None):
            if driver is not None:
                driver.close()
        self.driver = None
        if hasattr(self, "ring"):
            self.ring.close()
        if self.trigger_journal is not None:
            self.trigger_journal.close()
            self.trigger_journal = None

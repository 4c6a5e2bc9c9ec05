"""The camera driver interface and the registry of drivers.

A driver is opened with the station's camera settings (exposure, gain, pixel
format, ROI where the camera has them) and runs in one of three trigger modes:

- ``software``: the camera service decides when a part is in front of the
  camera; it calls :meth:`CameraDriver.trigger` and then
  :meth:`CameraDriver.grab` for that part's frame;
- ``hardware``: the camera is triggered on a line input; every frame it
  delivers is a part (the service only calls :meth:`CameraDriver.grab`);
- ``free_run``: the camera streams; :meth:`CameraDriver.trigger` marks the
  instant a part is in front of it and :meth:`CameraDriver.grab` returns the
  first frame taken after that instant.

Part identity rests on one rule every driver keeps: :meth:`grab` never returns
a frame that belongs to an earlier trigger. A frame that arrives after its
part's grab timed out is *late*: it is discarded and counted in
:attr:`CameraDriver.stats`, never handed to the next part. A buffer the
camera delivered incomplete raises :class:`IncompleteGrab`; no frame within the
timeout raises :class:`GrabTimeout`; a camera that went away raises
:class:`CameraLost` (the service then reopens it with back-off).

Every registered driver is checked against this interface by the tests.
"""

from __future__ import annotations

import importlib
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from inspector.config.schema import CameraConfig, TriggerMode
from inspector.errors import CameraError, ConfigError

log = logging.getLogger(__name__)

_DRIVER_MODULES = {
    "synthetic": "camera_drivers.synthetic:SyntheticCamera",
    "folder": "camera_drivers.folder:FolderReplayCamera",
    "opencv": "camera_drivers.opencv:OpenCvCamera",
    "basler": "camera_drivers.basler:BaslerCamera",
    "genicam": "camera_drivers.genicam:GenICamCamera",
}


class GrabTimeout(CameraError):
    """No frame arrived within the grab timeout (a lost buffer, or no trigger)."""


class IncompleteGrab(CameraError):
    """The camera delivered a buffer, but incomplete or failed; its part gets no image."""

    def __init__(self, problem: str, frame_id: int | None = None) -> None:
        super().__init__(problem)
        self.frame_id = frame_id


class CameraLost(CameraError):
    """The camera went away (unplugged, powered off, closed); it must be reopened."""


@dataclass(frozen=True)
class Grab:
    """One captured image and where it came from.

    ``frame_id`` is the camera's own frame counter (GenICam block id) when the
    source has one; ``t_capture`` is host time (``time.time()``) when the frame
    was in host memory.
    """

    pixels: np.ndarray
    pixel_format: str
    source: str
    t_capture: float
    frame_id: int | None = None


@dataclass(frozen=True)
class DeviceInfo:
    """A camera a driver can see (``inspector camera list``)."""

    driver: str
    id: str  # what to put in the config to open it: serial, index or URL
    model: str
    description: str = ""


class CameraDriver(ABC):
    """A frame source. ``open`` before ``grab``/``capture``; ``close`` is idempotent."""

    #: Trigger modes this driver supports; ``open`` refuses the others.
    trigger_modes: ClassVar[tuple[TriggerMode, ...]] = ("software",)

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        #: frames given to no part: "late" (arrived after their part's grab), "incomplete", "lost" (never arrived)
        self.stats: Counter[str] = Counter()

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect to the source and apply the configuration; raise CameraError when it cannot."""

    @abstractmethod
    def close(self) -> None:
        """Release the source (idempotent)."""

    @abstractmethod
    def trigger(self) -> float:
        """A part is in front of the camera now: fire the software trigger (software mode) or mark
        the instant (free run). Returns the host time of the trigger."""

    @abstractmethod
    def grab(self, timeout_s: float | None = None) -> Grab:
        """The next frame of this camera, waiting at most ``timeout_s`` (default: the config's
        ``grab_timeout_ms``). Raises GrabTimeout, IncompleteGrab or CameraLost."""

    def settings(self) -> dict[str, object]:
        """The settings the camera actually runs with (read back from it where it can say)."""
        return {"trigger_mode": self.config.trigger_mode}

    @classmethod
    def list_devices(cls) -> list[DeviceInfo]:
        """Every camera this driver can see (empty when it cannot enumerate)."""
        return []

    def prepare_next(self) -> None:
        """Called between triggers: a driver may get the next image ready (default: nothing)."""

    # -- provided ---------------------------------------------------------------------------------
    def capture(self) -> Grab:
        """Take the image of the part in front of the camera now (trigger, then grab)."""
        if self.config.trigger_mode != "hardware":
            self.trigger()
        return self.grab()

    def timeout_s(self, timeout_s: float | None) -> float:
        return self.config.grab_timeout_ms / 1000 if timeout_s is None else timeout_s

    def check_trigger_mode(self) -> None:
        """Raise CameraError if the configured trigger mode is one this driver cannot do."""
        if self.config.trigger_mode not in self.trigger_modes:
            raise CameraError(
                f"camera {self.config.name}: driver {self.config.driver!r} cannot run in trigger mode "
                f"{self.config.trigger_mode!r} (supported: {', '.join(self.trigger_modes)})"
            )

    def count(self, what: str, detail: str) -> None:
        """Count and log a frame that is not given to any part (late, incomplete, ...)."""
        self.stats[what] += 1
        log.warning("camera %s: %s frame: %s", self.config.name, what, detail)

    def __enter__(self) -> "CameraDriver":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PacedSource:
    """Free-run pacing for sources without a sensor clock: one frame every ``1 / rate_hz``."""

    def __init__(self, rate_hz: float) -> None:
        self.period = 1.0 / rate_hz
        self.next_frame = time.monotonic()

    def wait(self, timeout_s: float) -> bool:
        """Sleep until the next frame is due; False if that is later than ``timeout_s`` from now."""
        wait = self.next_frame - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            return False
        if wait > 0:
            time.sleep(wait)
        self.next_frame = max(self.next_frame + self.period, time.monotonic() - self.period)
        return True


def registered_drivers() -> list[str]:
    return sorted(_DRIVER_MODULES)


def driver_class(name: str) -> type[CameraDriver]:
    """The driver class registered as ``name`` (imported lazily: hardware SDKs are optional)."""
    target = _DRIVER_MODULES.get(name)
    if target is None:
        raise ConfigError("cameras.driver", f"unknown driver {name!r}; known: {', '.join(registered_drivers())}")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_driver(config: CameraConfig) -> CameraDriver:
    """The driver named by ``config.driver``."""
    return driver_class(config.driver)(config)


class HostPacedDriver(CameraDriver):
    """A source that makes its frame when asked (synthetic parts, files): software trigger or free run.

    Subclasses implement :meth:`open_source` and :meth:`next_frame`. A frame is only
    made for a trigger (software) or when the free-run clock says one is due, so no
    frame can be late.
    """

    trigger_modes = ("software", "free_run")

    def open(self) -> None:
        self.check_trigger_mode()
        self._armed = False
        self._pace = PacedSource(self.config.rate_hz)
        self.open_source()
        self._open = True

    @abstractmethod
    def open_source(self) -> None:
        """Open files or generators; raise CameraError."""

    @abstractmethod
    def next_frame(self) -> Grab:
        """Make the next frame now."""

    def _require_open(self) -> None:
        if not getattr(self, "_open", False):
            raise CameraError(f"camera {self.config.name}: not open")

    def trigger(self) -> float:
        self._require_open()
        self._armed = True
        return time.time()

    def grab(self, timeout_s: float | None = None) -> Grab:
        self._require_open()
        timeout = self.timeout_s(timeout_s)
        if self.config.trigger_mode == "free_run":
            if not self._pace.wait(timeout):
                raise GrabTimeout(f"camera {self.config.name}: no frame due within {timeout * 1000:.0f} ms")
        elif not self._armed:
            time.sleep(timeout)
            raise GrabTimeout(f"camera {self.config.name}: no frame within {timeout * 1000:.0f} ms: not triggered")
        self._armed = False
        return self.next_frame()

    def close(self) -> None:
        self._open = False


class FrameMatcher:
    """Tells a software trigger's own frame from an earlier trigger's late one, by the camera's frame counter.

    A camera numbers every frame it exposes (GenICam block id), delivered or not, so
    after the first frame of a session trigger ``k`` must bring counter ``first + k - 1``.
    A smaller counter is a frame whose part's grab already timed out: late. A jump
    forward (counter wrap, camera reset) resynchronises on the new counter.
    """

    LATE_WINDOW = 1000  # this far behind the expected counter is a wrap, not a late frame

    def __init__(self) -> None:
        self.expected: int | None = None

    def triggered(self) -> None:
        if self.expected is not None:
            self.expected += 1

    def is_late(self, frame_id: int) -> bool:
        """False (and remember ``frame_id``) for the current trigger's frame, True for a late one."""
        expected = self.expected
        if expected is not None and -self.LATE_WINDOW < frame_id - expected < 0:
            return True
        if expected is not None and frame_id != expected:
            log.warning("frame counter jumped from expected %d to %d; resynchronising", expected, frame_id)
        self.expected = frame_id
        return False

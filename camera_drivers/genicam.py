"""Any GenICam camera (GigE Vision, USB3 Vision, CoaXPress) through a GenTL producer, with harvesters.

The camera maker ships the GenTL producer: a ``.cti`` file that the driver
loads (config field ``producer``). harvesters is an optional dependency
(``pip install 'inspector[genicam]'``) imported only when a camera is opened or
listed. Settings and triggers use the GenICam SFNC names (ExposureTime, Gain,
PixelFormat, Width/Height/OffsetX/OffsetY, TriggerMode/TriggerSource/
TriggerSoftware); part identity uses the buffer's frame id like the Basler
driver (see :class:`camera_drivers.base.FrameMatcher`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from camera_drivers.base import CameraDriver, CameraLost, DeviceInfo, FrameMatcher, Grab, GrabTimeout, IncompleteGrab
from inspector.config.schema import CameraConfig
from inspector.errors import CameraError

log = logging.getLogger(__name__)

# GenICam pixel format -> (line pixel format, dtype, channels)
LINE_FORMATS = {
    "Mono8": ("Mono8", np.uint8, 1),
    "Mono10": ("Mono16", np.uint16, 1),
    "Mono12": ("Mono16", np.uint16, 1),
    "Mono16": ("Mono16", np.uint16, 1),
    "RGB8": ("RGB8", np.uint8, 3),
    "BGR8": ("BGR8", np.uint8, 3),
}


def producer_file(config: CameraConfig) -> Path:
    """The configured GenTL producer, or a CameraError saying what is wrong with it."""
    if not config.producer:
        raise CameraError(
            f"camera {config.name}: the 'genicam' driver needs a GenTL producer: set 'producer' to the .cti file "
            "from the camera maker's SDK (for example /opt/pylon/lib/gentlproducer/gtl/ProducerGEV.cti)"
        )
    path = Path(config.producer)
    if not path.is_file():
        raise CameraError(f"camera {config.name}: GenTL producer file {path} does not exist (config field 'producer')")
    return path


def open_harvester(producer: Path, camera: str) -> Any:
    """A harvesters ``Harvester`` with ``producer`` loaded and its devices enumerated."""
    try:
        from harvesters.core import Harvester
    except ImportError as err:
        raise CameraError(
            f"camera {camera}: the 'genicam' driver needs harvesters: pip install 'inspector[genicam]' (or: pip install harvesters)"
        ) from err
    harvester = Harvester()
    try:
        harvester.add_file(str(producer), check_existence=True, check_validity=True)
        harvester.update()
    except Exception as err:  # harvesters/genicam raise their own and plain exceptions; all mean "not a usable producer"
        harvester.reset()
        raise CameraError(f"camera {camera}: cannot load GenTL producer {producer}: {err}") from err
    return harvester


class GenICamCamera(CameraDriver):
    trigger_modes = ("software", "hardware", "free_run")

    def __init__(self, config: CameraConfig) -> None:
        super().__init__(config)
        self._acquirer: Any = None
        self._harvester: Any = None

    def open(self) -> None:
        self.check_trigger_mode()
        cfg = self.config
        if cfg.pixel_format is not None and cfg.pixel_format not in LINE_FORMATS:
            raise CameraError(f"camera {cfg.name}: pixel format {cfg.pixel_format!r} not supported; use one of {', '.join(LINE_FORMATS)}")
        self._harvester = open_harvester(producer_file(cfg), cfg.name)
        try:
            self._acquirer = self._create()
            self._configure(self._acquirer.remote_device.node_map)
            self._acquirer.start()
        except CameraError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise CameraError(f"camera {cfg.name}: cannot open GenICam camera: {err}") from err
        self._matcher = FrameMatcher()

    def _create(self) -> Any:
        devices = self._harvester.device_info_list
        if self.config.serial:
            if not any(d.serial_number == self.config.serial for d in devices):
                seen = ", ".join(d.serial_number for d in devices) or "none"
                raise CameraError(f"camera {self.config.name}: no GenICam camera with serial {self.config.serial} (seen: {seen})")
            return self._harvester.create({"serial_number": self.config.serial})
        if self.config.device_index >= len(devices):
            raise CameraError(f"camera {self.config.name}: GenICam camera #{self.config.device_index} not found; {len(devices)} seen")
        return self._harvester.create(self.config.device_index)

    def _configure(self, nodes: Any) -> None:
        cfg = self.config

        def put(field: str, name: str, value: object) -> None:
            try:
                getattr(nodes, name).value = value
            except Exception as err:
                raise CameraError(f"camera {cfg.name}: '{field}' = {value!r} refused by the camera ({name}): {err}") from err

        if cfg.pixel_format is not None:
            put("pixel_format", "PixelFormat", cfg.pixel_format)
        if cfg.roi is not None:
            put("roi", "OffsetX", 0)
            put("roi", "OffsetY", 0)
            put("roi", "Width", cfg.roi.width)
            put("roi", "Height", cfg.roi.height)
            put("roi", "OffsetX", cfg.roi.x)
            put("roi", "OffsetY", cfg.roi.y)
        if cfg.exposure_us is not None:
            put("exposure_us", "ExposureTime", float(cfg.exposure_us))
        if cfg.gain_db is not None:
            put("gain_db", "Gain", float(cfg.gain_db))
        self._camera_format = str(nodes.PixelFormat.value)
        if self._camera_format not in LINE_FORMATS:
            raise CameraError(f"camera {cfg.name}: the camera's pixel format {self._camera_format} is not supported; set 'pixel_format'")
        put("trigger_mode", "TriggerSelector", "FrameStart")
        put("trigger_mode", "TriggerMode", "Off" if cfg.trigger_mode == "free_run" else "On")
        if cfg.trigger_mode == "software":
            put("trigger_mode", "TriggerSource", "Software")
        elif cfg.trigger_mode == "hardware":
            put("trigger_source", "TriggerSource", cfg.trigger_source)
            put("trigger_activation", "TriggerActivation", cfg.trigger_activation)

    def settings(self) -> dict[str, object]:
        nodes = self._require_open().remote_device.node_map

        def value(name: str) -> object:
            try:
                return getattr(nodes, name).value
            except Exception:  # a node the camera does not have: report it as absent
                return None

        return {
            "trigger_mode": self.config.trigger_mode,
            "camera_trigger": f"{value('TriggerMode')} ({value('TriggerSource')})",
            "exposure_us": value("ExposureTime"),
            "gain_db": value("Gain"),
            "pixel_format": value("PixelFormat"),
            "roi": {"width": value("Width"), "height": value("Height"), "x": value("OffsetX"), "y": value("OffsetY")},
        }

    def _require_open(self) -> Any:
        if self._acquirer is None:
            raise CameraError(f"camera {self.config.name}: not open")
        return self._acquirer

    def trigger(self) -> float:
        acquirer = self._require_open()
        if self.config.trigger_mode == "hardware":
            raise CameraError(f"camera {self.config.name}: triggered by {self.config.trigger_source}, not by software")
        while (buffer := self._fetch(0.0)) is not None:  # queued frames belong to earlier parts
            with buffer:
                self.count("late", f"frame {buffer.frame_id} arrived after its part's grab; discarded")
        t = time.time()
        if self.config.trigger_mode == "software":
            try:
                acquirer.remote_device.node_map.TriggerSoftware.execute()
            except Exception as err:
                raise CameraLost(f"camera {self.config.name}: software trigger failed: {err}") from err
            self._matcher.triggered()
        return t

    def _fetch(self, timeout_s: float) -> Any | None:
        try:
            return self._acquirer.try_fetch(timeout=timeout_s)
        except Exception as err:  # the producer reports a removed device as a generic GenTL error
            raise CameraLost(f"camera {self.config.name}: fetch failed (camera removed?): {err}") from err

    def grab(self, timeout_s: float | None = None) -> Grab:
        self._require_open()
        timeout = self.timeout_s(timeout_s)
        deadline = time.monotonic() + timeout
        while True:
            buffer = self._fetch(max(0.0, deadline - time.monotonic()))
            if buffer is None:
                raise GrabTimeout(f"camera {self.config.name}: no frame within {timeout * 1000:.0f} ms (lost buffer)")
            with buffer:
                frame_id = int(buffer.frame_id)
                if self.config.trigger_mode == "software" and self._matcher.is_late(frame_id):
                    self.count("late", f"frame {frame_id} arrived after its part's grab; discarded")
                    continue
                return self._take(buffer, frame_id)

    def _take(self, buffer: Any, frame_id: int) -> Grab:
        fmt, dtype, channels = LINE_FORMATS[self._camera_format]
        component = buffer.payload.components[0]
        expected = component.width * component.height * channels
        data = np.asarray(component.data)
        if data.size != expected:
            self.stats["incomplete"] += 1
            raise IncompleteGrab(f"camera {self.config.name}: frame {frame_id} has {data.size} values, expected {expected}", frame_id=frame_id)
        shape = (component.height, component.width) if channels == 1 else (component.height, component.width, channels)
        pixels = data.astype(dtype, copy=True).reshape(shape)  # the buffer goes back to the producer on return
        return Grab(pixels, fmt, f"genicam:{self.config.serial or self.config.device_index}#{frame_id}", time.time(), frame_id)

    def close(self) -> None:
        acquirer, self._acquirer = self._acquirer, None
        harvester, self._harvester = self._harvester, None
        try:
            if acquirer is not None:
                acquirer.stop()
                acquirer.destroy()
        finally:
            if harvester is not None:
                harvester.reset()

    @classmethod
    def list_cameras(cls, config: CameraConfig) -> list[DeviceInfo]:
        """Cameras the configured producer sees (listing needs a producer, so it takes a camera config)."""
        harvester = open_harvester(producer_file(config), config.name)
        try:
            return [
                DeviceInfo("genicam", d.serial_number, f"{d.vendor} {d.model}", f"{d.id_} via {Path(config.producer).name}")
                for d in harvester.device_info_list
            ]
        finally:
            harvester.reset()

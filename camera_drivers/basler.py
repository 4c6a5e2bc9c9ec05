"""Basler cameras through pypylon (GigE, USB3, and the pylon camera emulator).

The camera is opened by serial number (or index in the device list), the
configured exposure, gain, pixel format and ROI are written to it, and the
trigger is set up: software (``TriggerSoftware`` on each part), hardware
(``TriggerSource`` = a line input) or free run (no trigger).

Part identity uses the camera's block id, which counts every frame the camera
exposes, delivered or not: after the first frame of a grab session, trigger
``k`` must come with block id ``first + k - 1``. A frame with a smaller id
belongs to an earlier trigger whose grab already timed out: it is *late*, is
discarded and counted. Frames still queued when the next trigger fires are
discarded the same way.

The emulator (``PYLON_CAMEMU=N`` in the environment before pypylon is first
used) serves its test pattern, or with ``emulator_images`` an image file or a
folder of images in name order; images larger than the ROI are cropped to it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import cv2
import numpy as np

from camera_drivers.base import CameraDriver, CameraLost, DeviceInfo, FrameMatcher, Grab, GrabTimeout, IncompleteGrab
from inspector.errors import CameraError

log = logging.getLogger(__name__)

EMULATOR_CLASS = "BaslerCamEmu"
# camera pixel format -> the line's pixel format (unpacked layouts only: one array element per pixel value)
LINE_FORMATS = {
    "Mono8": "Mono8",
    "Mono10": "Mono16",
    "Mono12": "Mono16",
    "Mono16": "Mono16",
    "RGB8": "RGB8",
    "RGB8Packed": "RGB8",
    "BGR8": "BGR8",
    "BGR8Packed": "BGR8",
    "BGRA8Packed": "BGR8",
}
BAYER_TO_BGR = {
    "BayerRG8": cv2.COLOR_BayerRG2BGR,
    "BayerBG8": cv2.COLOR_BayerBG2BGR,
    "BayerGR8": cv2.COLOR_BayerGR2BGR,
    "BayerGB8": cv2.COLOR_BayerGB2BGR,
}


def import_pylon() -> tuple[Any, Any]:
    """pypylon's ``pylon`` and ``genicam`` modules, or a CameraError saying how to get them."""
    try:
        from pypylon import genicam, pylon
    except ImportError as err:
        raise CameraError(
            "the 'basler' camera driver needs pypylon (Basler's pylon SDK for Python): pip install pypylon"
        ) from err
    return pylon, genicam


class BaslerCamera(CameraDriver):
    trigger_modes = ("software", "hardware", "free_run")

    def __init__(self, config) -> None:
        super().__init__(config)
        self._camera: Any = None

    # -- open / configure ---------------------------------------------------------------------------
    def open(self) -> None:
        self.check_trigger_mode()
        pylon, genicam = self._pylon, self._genicam = import_pylon()
        cfg = self.config
        if cfg.pixel_format is not None and cfg.pixel_format not in LINE_FORMATS and cfg.pixel_format not in BAYER_TO_BGR:
            raise CameraError(
                f"camera {cfg.name}: 'pixel_format' = {cfg.pixel_format!r} is not supported by the line; "
                f"use one of {', '.join([*LINE_FORMATS, *BAYER_TO_BGR])}"
            )
        try:
            factory = pylon.TlFactory.GetInstance()
            device = factory.CreateDevice(self._find_device(factory))
            camera = pylon.InstantCamera(device)
            camera.Open()
        except genicam.GenericException as err:
            raise CameraError(f"camera {cfg.name}: cannot open Basler camera {self._wanted()}: {err}") from err
        self._camera = camera
        try:
            self._configure()
            strategy = pylon.GrabStrategy_LatestImageOnly if cfg.trigger_mode == "free_run" else pylon.GrabStrategy_OneByOne
            camera.StartGrabbing(strategy)
        except genicam.GenericException as err:
            self.close()
            raise CameraError(f"camera {cfg.name}: cannot configure Basler camera {self._wanted()}: {err}") from err
        except CameraError:
            self.close()
            raise
        self.info = camera.GetDeviceInfo()
        self._matcher = FrameMatcher()
        log.info("camera %s: opened %s (%s)", cfg.name, self.info.GetModelName(), self.info.GetSerialNumber())

    def _wanted(self) -> str:
        return f"serial {self.config.serial}" if self.config.serial else f"#{self.config.device_index}"

    def _find_device(self, factory: Any) -> Any:
        devices = list(factory.EnumerateDevices())
        if self.config.serial:
            for dev in devices:
                if dev.GetSerialNumber() == self.config.serial:
                    return dev
            seen = ", ".join(d.GetSerialNumber() for d in devices) or "none"
            raise CameraError(f"camera {self.config.name}: no Basler camera with serial {self.config.serial} (cameras seen: {seen})")
        if self.config.device_index >= len(devices):
            hint = "" if os.environ.get("PYLON_CAMEMU") else " (set PYLON_CAMEMU=N for emulated cameras)"
            raise CameraError(f"camera {self.config.name}: Basler camera #{self.config.device_index} not found; {len(devices)} seen{hint}")
        return devices[self.config.device_index]

    def _node(self, name: str) -> Any | None:
        node = self._camera.GetNodeMap().GetNode(name)
        return node if self._genicam.IsAvailable(node) else None

    def _set(self, field: str, value: object, *names: str) -> None:
        """Write ``value`` to the first of ``names`` the camera has; CameraError naming the config field."""
        for name in names:
            node = self._node(name)
            if node is None:
                continue
            if not self._genicam.IsWritable(node):
                raise CameraError(f"camera {self.config.name}: '{field}': camera node {name} is not writable now")
            try:
                node.SetValue(value)
            except self._genicam.GenericException as err:
                raise CameraError(f"camera {self.config.name}: '{field}' = {value!r} refused by the camera ({name}): {err}") from err
            return
        raise CameraError(f"camera {self.config.name}: '{field}': this camera has no {' or '.join(names)} setting")

    def _configure(self) -> None:
        cfg = self.config
        is_emulator = self._camera.GetDeviceInfo().GetDeviceClass() == EMULATOR_CLASS
        if cfg.emulator_images is not None:
            if not is_emulator:
                raise CameraError(f"camera {cfg.name}: 'emulator_images' only applies to the pylon camera emulator")
            if not os.path.exists(cfg.emulator_images):
                raise CameraError(f"camera {cfg.name}: emulator image file or folder {cfg.emulator_images} does not exist")
            self._set("emulator_images", "Off", "TestImageSelector")
            self._set("emulator_images", "On", "ImageFileMode")
            self._set("emulator_images", cfg.emulator_images, "ImageFilename")
        if cfg.pixel_format is not None:
            self._set("pixel_format", cfg.pixel_format, "PixelFormat")
        if cfg.roi is not None:
            self._set_roi()
        if cfg.exposure_us is not None:
            if self._node("ExposureAuto") is not None:
                self._set("exposure_us", "Off", "ExposureAuto")
            self._set("exposure_us", float(cfg.exposure_us), "ExposureTime", "ExposureTimeAbs")
        if cfg.gain_db is not None:
            if self._node("GainAuto") is not None:
                self._set("gain_db", "Off", "GainAuto")
            self._set("gain_db", float(cfg.gain_db), "Gain", "GainAbs")
        current = self._camera_format = self._node("PixelFormat").GetValue()
        if current not in LINE_FORMATS and current not in BAYER_TO_BGR:
            raise CameraError(f"camera {cfg.name}: the camera's pixel format {current} is not supported by the line; set 'pixel_format'")
        self._set("trigger_mode", "FrameStart", "TriggerSelector")
        if cfg.trigger_mode == "free_run":
            self._set("trigger_mode", "Off", "TriggerMode")
            return
        self._set("trigger_mode", "On", "TriggerMode")
        if cfg.trigger_mode == "software":
            self._set("trigger_mode", "Software", "TriggerSource")
        else:
            self._set("trigger_source", cfg.trigger_source, "TriggerSource")
            if self._node("TriggerActivation") is not None:
                self._set("trigger_activation", cfg.trigger_activation, "TriggerActivation")

    def _set_roi(self) -> None:
        roi = self.config.roi
        for axis, size, offset in (("Width", roi.width, roi.x), ("Height", roi.height, roi.y)):
            off_name = "OffsetX" if axis == "Width" else "OffsetY"
            self._set("roi", 0, off_name)  # free the full sensor before sizing
            node = self._node(axis)
            inc, largest = node.GetInc(), self._node(f"{axis}Max").GetValue() if self._node(f"{axis}Max") else node.GetMax()
            if size % inc or offset % max(self._node(off_name).GetInc(), 1):
                raise CameraError(f"camera {self.config.name}: 'roi': {axis.lower()} and offset must be multiples of {inc} on this camera")
            if size + offset > largest:
                raise CameraError(f"camera {self.config.name}: 'roi': {axis.lower()} {size} + offset {offset} exceeds the sensor's {largest}")
            self._set("roi", size, axis)
            self._set("roi", offset, off_name)

    def settings(self) -> dict[str, object]:
        def value(*names: str) -> object:
            for name in names:
                node = self._node(name)
                if node is not None and self._genicam.IsReadable(node):
                    return node.GetValue()
            return None

        trigger = value("TriggerMode")
        return {
            "trigger_mode": self.config.trigger_mode,
            "camera_trigger": f"{trigger} ({value('TriggerSource')})" if trigger == "On" else "Off (free run)",
            "exposure_us": value("ExposureTime", "ExposureTimeAbs"),
            "gain_db": value("Gain", "GainAbs"),
            "pixel_format": value("PixelFormat"),
            "roi": {"width": value("Width"), "height": value("Height"), "x": value("OffsetX"), "y": value("OffsetY")},
            "serial": self.info.GetSerialNumber(),
            "model": self.info.GetModelName(),
            "emulator_images": value("ImageFilename") if value("ImageFileMode") == "On" else None,
        }

    # -- trigger / grab ---------------------------------------------------------------------------
    def _require_open(self) -> Any:
        if self._camera is None:
            raise CameraError(f"camera {self.config.name}: not open")
        return self._camera

    def _check_alive(self) -> None:
        camera = self._camera
        try:
            alive = camera.IsOpen() and camera.IsGrabbing() and not camera.IsCameraDeviceRemoved()
        except self._genicam.GenericException:
            alive = False
        if not alive:
            raise CameraLost(f"camera {self.config.name}: Basler camera {self._wanted()} was removed or closed")

    def trigger(self) -> float:
        camera = self._require_open()
        if self.config.trigger_mode == "hardware":
            raise CameraError(f"camera {self.config.name}: triggered by {self.config.trigger_source}, not by software")
        self._discard_queued()
        t = time.time()
        if self.config.trigger_mode == "software":
            try:
                if not camera.WaitForFrameTriggerReady(int(self.config.grab_timeout_ms), self._pylon.TimeoutHandling_Return):
                    self._check_alive()
                    raise GrabTimeout(f"camera {self.config.name}: not ready for a trigger within {self.config.grab_timeout_ms:.0f} ms")
                t = time.time()
                camera.ExecuteSoftwareTrigger()
            except self._genicam.GenericException as err:
                self._check_alive()
                raise CameraError(f"camera {self.config.name}: software trigger failed: {err}") from err
            self._matcher.triggered()
        return t

    def _discard_queued(self) -> None:
        """Frames still queued when a part is triggered belong to earlier parts: count them, never use them."""
        while True:
            result = self._retrieve(0)
            if result is None:
                return
            try:
                self.count("late", f"block {result.BlockID} arrived after its part's grab; discarded")
            finally:
                result.Release()

    def _retrieve(self, timeout_ms: int) -> Any | None:
        try:
            result = self._camera.RetrieveResult(timeout_ms, self._pylon.TimeoutHandling_Return)
        except self._genicam.GenericException as err:
            self._check_alive()
            raise CameraError(f"camera {self.config.name}: grab failed: {err}") from err
        if result is None or not result.IsValid():
            self._check_alive()
            return None
        return result

    def grab(self, timeout_s: float | None = None) -> Grab:
        self._require_open()
        deadline = time.monotonic() + self.timeout_s(timeout_s)
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            result = self._retrieve(remaining_ms)
            if result is None:
                raise GrabTimeout(f"camera {self.config.name}: no frame within {self.timeout_s(timeout_s) * 1000:.0f} ms (lost buffer)")
            try:
                grab = self._take(result)
            finally:
                result.Release()
            if grab is not None:
                return grab

    def _take(self, result: Any) -> Grab | None:
        """This trigger's frame from a grab result, None for an earlier trigger's (late) frame."""
        block = int(result.BlockID)
        if self.config.trigger_mode == "software" and self._matcher.is_late(block):
            self.count("late", f"block {block} arrived after its part's grab (expected block {self._matcher.expected}); discarded")
            return None
        if not result.GrabSucceeded():
            self.stats["incomplete"] += 1
            raise IncompleteGrab(
                f"camera {self.config.name}: incomplete buffer, block {block}: {result.ErrorDescription} (error {result.ErrorCode:#x})",
                frame_id=block,
            )
        pixels, fmt = self._pixels(result)
        return Grab(pixels, fmt, f"basler:{self.info.GetSerialNumber()}#{block}", time.time(), block)

    def _pixels(self, result: Any) -> tuple[np.ndarray, str]:
        camera_format = self._camera_format
        pixels = result.GetArray()  # one copy out of the driver's buffer pool; none from here to the detector
        if camera_format in BAYER_TO_BGR:
            return cv2.cvtColor(pixels, BAYER_TO_BGR[camera_format]), "BGR8"
        fmt = LINE_FORMATS[camera_format]
        if camera_format == "BGRA8Packed":
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
        return np.ascontiguousarray(pixels), fmt

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            if camera.IsGrabbing():
                camera.StopGrabbing()
            camera.Close()
            camera.DestroyDevice()
        except self._genicam.GenericException as err:
            log.warning("camera %s: error while closing: %s", self.config.name, err)

    @classmethod
    def list_devices(cls) -> list[DeviceInfo]:
        pylon, _ = import_pylon()
        return [
            DeviceInfo("basler", dev.GetSerialNumber(), dev.GetModelName(), f"{dev.GetFriendlyName()} [{dev.GetDeviceClass()}]")
            for dev in pylon.TlFactory.GetInstance().EnumerateDevices()
        ]

"""OpenCV capture: a USB camera (V4L2), an RTSP/HTTP stream, or a video file.

``url`` selects a stream or a file; without it the USB camera ``device_index``
is opened. These sources stream on their own, so the software trigger takes
the next frame at the moment of the trigger; video files are read one frame per
trigger (or at ``rate_hz`` in free run) and start again at the end when
``loop`` is set. ROI is applied by cropping; ``pixel_format`` Mono8 converts to
grey; exposure and gain are passed to the capture backend where it has them.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import cv2
import numpy as np

from camera_drivers.base import CameraDriver, CameraLost, DeviceInfo, Grab, GrabTimeout, PacedSource
from inspector.errors import CameraError

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")
OUTPUT_FORMATS = ("BGR8", "Mono8")


class OpenCvCamera(CameraDriver):
    trigger_modes = ("software", "free_run")

    def open(self) -> None:
        self.check_trigger_mode()
        cfg = self.config
        if cfg.pixel_format is not None and cfg.pixel_format not in OUTPUT_FORMATS:
            raise CameraError(f"camera {cfg.name}: OpenCV capture delivers {' or '.join(OUTPUT_FORMATS)}, not pixel format {cfg.pixel_format!r}")
        self.is_file = bool(cfg.url) and not cfg.url.lower().startswith(STREAM_SCHEMES)
        if self.is_file and not Path(cfg.url).is_file():
            raise CameraError(f"camera {cfg.name}: video file {cfg.url} does not exist")
        target = cfg.url if cfg.url else cfg.device_index
        self.where = cfg.url if cfg.url else f"/dev/video{cfg.device_index}"
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"camera {cfg.name}: OpenCV cannot open {self.where}")
        if not self.is_file:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a trigger wants the newest frame, not a queued one
            if cfg.exposure_us is not None and not cap.set(cv2.CAP_PROP_EXPOSURE, cfg.exposure_us / 100):  # V4L2: 100 µs units
                log.warning("camera %s: the capture backend did not accept an exposure setting", cfg.name)
            if cfg.gain_db is not None and not cap.set(cv2.CAP_PROP_GAIN, cfg.gain_db):
                log.warning("camera %s: the capture backend did not accept a gain setting", cfg.name)
        self._cap = cap
        self._pending: Grab | None = None
        self._frames = 0
        self._pace = PacedSource(cfg.rate_hz)

    def settings(self) -> dict[str, object]:
        cap = self._cap
        return {
            **super().settings(),
            "source": self.where,
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": cap.get(cv2.CAP_PROP_FPS),
            "pixel_format": self.config.pixel_format or "BGR8",
            "roi": self.config.roi,
        }

    def _read(self) -> Grab:
        ok, pixels = self._cap.read()
        if not ok and self.is_file and self.config.loop and self._frames:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, pixels = self._cap.read()
        if not ok:
            if self.is_file:
                raise CameraError(f"camera {self.config.name}: video file {self.where} exhausted after {self._frames} frames")
            raise CameraLost(f"camera {self.config.name}: no frame from {self.where} (stream ended or camera unplugged)")
        t_capture = time.time()
        self._frames += 1
        return Grab(*self._convert(pixels), f"{self.where}#{self._frames}", t_capture, self._frames)

    def _convert(self, pixels: np.ndarray) -> tuple[np.ndarray, str]:
        roi = self.config.roi
        if roi is not None:
            h, w = pixels.shape[:2]
            if roi.x + roi.width > w or roi.y + roi.height > h:
                raise CameraError(f"camera {self.config.name}: ROI {roi.width}x{roi.height}+{roi.x}+{roi.y} lies outside the {w}x{h} frame")
            pixels = pixels[roi.y : roi.y + roi.height, roi.x : roi.x + roi.width]
        if self.config.pixel_format == "Mono8":
            if pixels.ndim == 3:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
            return np.ascontiguousarray(pixels), "Mono8"
        if pixels.ndim == 2:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(pixels), "BGR8"

    def _require_open(self) -> cv2.VideoCapture:
        cap = getattr(self, "_cap", None)
        if cap is None:
            raise CameraError(f"camera {self.config.name}: not open")
        return cap

    def trigger(self) -> float:
        self._require_open()
        t = time.time()
        if self.config.trigger_mode == "software":
            if self._pending is not None:
                self.count("late", f"frame {self._pending.frame_id} was never grabbed; discarded")
            self._pending = self._read()
        return t

    def grab(self, timeout_s: float | None = None) -> Grab:
        self._require_open()
        timeout = self.timeout_s(timeout_s)
        if self.config.trigger_mode == "software":
            if self._pending is None:
                time.sleep(timeout)
                raise GrabTimeout(f"camera {self.config.name}: no frame within {timeout * 1000:.0f} ms: not triggered")
            grab, self._pending = self._pending, None
            return grab
        if self.is_file and not self._pace.wait(timeout):  # a file has no clock of its own: replay at rate_hz
            raise GrabTimeout(f"camera {self.config.name}: no frame due within {timeout * 1000:.0f} ms")
        return self._read()

    def close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None

    @classmethod
    def list_devices(cls) -> list[DeviceInfo]:
        """USB cameras by their V4L2 device nodes (streams and files are not discoverable)."""
        devices = []
        for node in sorted(Path("/dev").glob("video*")):
            match = re.fullmatch(r"video(\d+)", node.name)
            if match is None:
                continue
            name_file = Path("/sys/class/video4linux") / node.name / "name"
            model = name_file.read_text().strip() if name_file.is_file() else "V4L2 device"
            devices.append(DeviceInfo("opencv", match.group(1), model, str(node)))
        return devices

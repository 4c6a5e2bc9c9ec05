"""Replay a folder of images, in name order: one per trigger, or at ``rate_hz`` in free run.

Each image is decoded whole or refused (cut, damaged, above the camera's frame limit: see
:mod:`camera_drivers.image_files`); a refused image is its own part's fail-safe, with the reason.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from camera_drivers.base import Grab, HostPacedDriver
from camera_drivers.image_files import read_image
from inspector.errors import CameraError, ImageRefused

log = logging.getLogger(__name__)

PIXEL_FORMATS = {("uint8", 1): "Mono8", ("uint16", 1): "Mono16", ("uint8", 3): "BGR8"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def pixel_format_of(pixels: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """The line's pixel format of a decoded image (alpha dropped); CameraError for unsupported depths."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    fmt = PIXEL_FORMATS.get((str(pixels.dtype), channels))
    if fmt is None:
        raise CameraError(f"{what} is {pixels.dtype} with {channels} channel(s); supported: 8- or 16-bit mono, 8-bit colour")
    return np.ascontiguousarray(pixels), fmt


class FolderReplayCamera(HostPacedDriver):
    def open_source(self) -> None:
        folder = Path(self.config.folder or "")
        if not folder.is_dir():
            raise CameraError(f"camera {self.config.name}: image folder {folder} does not exist")
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraError(f"camera {self.config.name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        self._next = 0
        self._served = 0
        self._prepared: tuple[np.ndarray, str, Path] | CameraError | None = None

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "folder": self.config.folder, "images": len(getattr(self, "_files", [])), "rate_hz": self.config.rate_hz}

    def prepare_next(self) -> None:
        """Read the next image between triggers, as a camera has its frame in a buffer when the grab
        comes; an image that cannot be read is reported by the grab of its own part, not here."""
        if self._prepared is None and (self.config.loop or self._next < len(self._files)):
            try:
                self._prepared = self._read_next()
            except CameraError as err:
                self._prepared = err

    def next_frame(self) -> Grab:
        prepared, self._prepared = self._prepared, None
        if isinstance(prepared, CameraError):
            raise prepared
        pixels, fmt, path = prepared or self._read_next()
        self._served += 1
        return Grab(pixels, fmt, str(path), time.time(), self._served)

    def _read_next(self) -> tuple[np.ndarray, str, Path]:
        if self._next >= len(self._files):
            if not self.config.loop:
                raise CameraError(f"camera {self.config.name}: replay folder exhausted after {len(self._files)} images")
            self._next = 0
        path = self._files[self._next]
        self._next += 1
        try:
            pixels = read_image(path, self.config.max_frame_bytes())
        except ImageRefused as err:
            raise ImageRefused(f"camera {self.config.name}: {err}") from err
        pixels, fmt = pixel_format_of(pixels, f"camera {self.config.name}: image {path}")
        return pixels, fmt, path

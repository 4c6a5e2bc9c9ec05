"""The camera driver interface and the registry of drivers.

The camera service owns triggering: at each trigger it calls
:meth:`CameraDriver.capture`, which returns the image of the part in front of
the camera now. Drivers for hardware with their own trigger inputs extend
this; every registered driver is checked against the interface by the tests.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from inspector.config.schema import CameraConfig
from inspector.errors import ConfigError

_DRIVER_MODULES = {
    "synthetic": "camera_drivers.synthetic:SyntheticCamera",
    "folder": "camera_drivers.folder:FolderReplayCamera",
}


@dataclass(frozen=True)
class Grab:
    """One captured image and where it came from."""

    pixels: np.ndarray
    pixel_format: str
    source: str
    t_capture: float


class CameraDriver(ABC):
    """A frame source. ``open`` before ``capture``; ``close`` is idempotent."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config

    @abstractmethod
    def open(self) -> None:
        """Connect to the source; raise CameraError when it cannot be opened."""

    @abstractmethod
    def capture(self) -> Grab:
        """Take the image of the part now in front of the camera."""

    @abstractmethod
    def close(self) -> None:
        """Release the source."""

    def prepare_next(self) -> None:
        """Called between triggers: a driver may get the next image ready (default: nothing)."""

    def __enter__(self) -> "CameraDriver":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def registered_drivers() -> list[str]:
    return sorted(_DRIVER_MODULES)


def make_driver(config: CameraConfig) -> CameraDriver:
    """The driver named by ``config.driver`` (imported lazily: hardware SDKs are optional)."""
    target = _DRIVER_MODULES.get(config.driver)
    if target is None:
        raise ConfigError("cameras.driver", f"unknown driver {config.driver!r}; known: {', '.join(registered_drivers())}")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(config)

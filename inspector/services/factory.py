"""Build a service by name (the ``inspector service`` command and the supervisor's children)."""

from __future__ import annotations

from inspector.config.schema import Config
from inspector.services.base import Service


def make_service(name: str, config: Config, camera: str | None = None, instance: str = "") -> Service:
    if name == "camera":
        from inspector.services.camera import CameraService

        return CameraService(config, camera)
    if name == "detector":
        from inspector.services.detector import DetectorService

        return DetectorService(config, instance)
    if name == "actuator":
        from inspector.services.actuator import ActuatorService

        return ActuatorService(config)
    if name == "recorder":
        from inspector.services.recorder import RecorderService

        return RecorderService(config)
    if name == "publisher":
        from inspector.services.publisher import PublisherService

        return PublisherService(config)
    raise ValueError(f"unknown service {name!r}")

"""Build a service by name (the ``inspector service`` command and the supervisor's children), from the registry."""

from __future__ import annotations

import importlib

from inspector.config.schema import Config
from inspector.service_registry import BY_NAME
from inspector.services.base import Service


def service_class(name: str) -> type[Service]:
    """The class of a service of the line (imported only now: a camera SDK or ONNX Runtime loads with its service)."""
    entry = BY_NAME.get(name)
    if entry is None or entry.service is None:
        raise ValueError(f"unknown service {name!r}")
    module, _, cls = entry.service.partition(":")
    return getattr(importlib.import_module(module), cls)


def make_service(name: str, config: Config, camera: str | None = None, instance: str = "") -> Service:
    """The service ``name``; ``camera`` names a camera service's camera, ``instance`` a detector's instance."""
    cls = service_class(name)
    return cls(config, camera) if BY_NAME[name].instance_option == "--camera" else cls(config, instance)

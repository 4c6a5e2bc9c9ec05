"""Training backends, one per model family, registered by the family's name.

Adding a family's training means adding its backend module and one
registration line below.
"""

from __future__ import annotations

from inspector.errors import ConfigError
from inspector.training.backends.base import ExportedGraph, Progress, ProgressCallback, TrainingBackend

_BACKENDS: dict[str, TrainingBackend] = {}


def register_backend(cls: type[TrainingBackend]) -> type[TrainingBackend]:
    """Class decorator: the backend that trains ``cls.family``."""
    _BACKENDS[cls.family] = cls()
    return cls


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def backend_for(family: str) -> TrainingBackend:
    try:
        return _BACKENDS[family]
    except KeyError:
        raise ConfigError("family", f"no training backend for model family {family!r} (known: {', '.join(backend_names())})") from None


__all__ = ["ExportedGraph", "Progress", "ProgressCallback", "TrainingBackend", "backend_for", "backend_names", "register_backend"]

# the built-in backends (one line each)
from inspector.training.backends import yolo  # noqa: E402,F401
from inspector.training.backends import anomaly  # noqa: E402,F401
from inspector.training.backends import segmentation  # noqa: E402,F401

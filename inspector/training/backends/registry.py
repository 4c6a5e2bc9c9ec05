"""The training backends by model family: a backend registers itself here, a run's ``family`` finds it.

The built-in backends register when :mod:`inspector.training.backends` is
imported; ask that package (not this module) for a backend, so they are there.
"""

from __future__ import annotations

from inspector.errors import ConfigError
from inspector.training.backends.base import TrainingBackend

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

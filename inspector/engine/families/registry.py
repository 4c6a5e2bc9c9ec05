"""The model families by name: a plug-in registers itself here, a model package's ``family`` finds it.

The built-in families register when :mod:`inspector.engine.families` is
imported; ask that package (not this module) for a family, so they are there.
"""

from __future__ import annotations

from inspector.engine.families.base import ModelFamily
from inspector.errors import ModelError

_FAMILIES: dict[str, type[ModelFamily]] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: make ``cls`` the family of its ``name``."""
    if cls.name in _FAMILIES and _FAMILIES[cls.name] is not cls:
        raise ValueError(f"model family {cls.name!r} is registered twice")
    _FAMILIES[cls.name] = cls
    return cls


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def family_class(name: str) -> type[ModelFamily]:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(family_names())})") from None

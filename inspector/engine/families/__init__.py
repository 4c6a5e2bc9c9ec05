"""Model families, registered by name: each reads one kind of model package.

A package's ``model.json`` names its family; :func:`family_class` finds the
plug-in. Adding a family means adding its module and one registration line
below.
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


# the built-in families (one line each)
from inspector.engine.families import yolo  # noqa: E402,F401
from inspector.engine.families import anomaly  # noqa: E402,F401
from inspector.engine.families import segmentation  # noqa: E402,F401

"""The model families by name: a plug-in registers itself here, a model package's ``family`` finds it.

The built-in families register when :mod:`inspector.engine.families` is
imported; ask that package (not this module) for a family, so they are there.

A family registers with its station settings: its ``settings_type`` must be
the class of its section ``detector.families.<name>``
(:class:`~inspector.config.families.FamilySettings`), so every family the
engine knows can be set in a station's config, and is checked when it loads.
"""

from __future__ import annotations

from inspector.config.families import FamilySettings
from inspector.engine.families.base import ModelFamily
from inspector.errors import ConfigError, ModelError

_FAMILIES: dict[str, type[ModelFamily]] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: make ``cls`` the family of its ``name``."""
    try:
        section = FamilySettings.settings_type(cls.name)
    except ConfigError:
        raise ValueError(
            f"model family {cls.name!r} has no station settings: add its section to FamilySettings "
            "(inspector/config/families.py), even one with nothing to set"
        ) from None
    if getattr(cls, "settings_type", None) is not section:
        raise ValueError(
            f"model family {cls.name!r} must name {section.__name__} as its settings_type "
            f"(the class of detector.families.{cls.name})"
        )
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

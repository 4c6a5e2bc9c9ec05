"""Model families, registered by name: each reads one kind of model package.

A package's ``model.json`` names its family; :func:`family_class` finds the
plug-in (:mod:`inspector.engine.families.registry`). Adding a family means
adding its module, registered with :func:`register_family`, its section of
station settings in :mod:`inspector.config.families` (named by the plug-in's
``settings_type``), and one import line below.
"""

from __future__ import annotations

from inspector.engine.families import anomaly, segmentation, yolo  # noqa: F401  (the built-in families register)
from inspector.engine.families.registry import family_class, family_names, register_family

__all__ = ["family_class", "family_names", "register_family"]

"""Training backends, one per model family, registered by the family's name.

Adding a family's training means adding its backend module, registered with
:func:`register_backend` (:mod:`inspector.training.backends.registry`), and
its name in the import line below.
"""

from __future__ import annotations

from inspector.training.backends import anomaly, segmentation, yolo  # noqa: F401  (the built-in backends register)
from inspector.training.backends.base import ExportedGraph, Progress, ProgressCallback, TrainingBackend
from inspector.training.backends.registry import backend_for, backend_names, register_backend

__all__ = ["ExportedGraph", "Progress", "ProgressCallback", "TrainingBackend", "backend_for", "backend_names", "register_backend"]

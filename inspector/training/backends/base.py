"""The interface every training backend implements, one per model family.

A backend turns a dataset into a trained artefact in a run folder (YOLO
weights, an anomaly model's memory bank, a segmentation head) and that
artefact into an ONNX graph its model family reads. What is common to every
run (the run config's ``family``, ``data`` and ``run_dir``, the run record,
resuming, the operating point and the metadata of the package) is done once,
in :mod:`inspector.training.runs` and :mod:`inspector.training.package`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from inspector.datasets_tool import Dataset


@dataclass(frozen=True)
class Progress:
    """One step of a training run: ``step`` of ``total`` ``unit`` (epoch, image...), with figures."""

    step: int
    total: int
    unit: str
    figures: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in self.figures.items())
        return f"{self.unit} {self.step}/{self.total}" + (f": {shown}" if shown else "")


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ExportedGraph:
    """What a backend's export tells the package about the ONNX file it wrote."""

    classes: list[str]
    input_size: tuple[int, int]
    family_settings: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the model's default name stem (for example the YOLO model YAML's)


class TrainingBackend(ABC):
    """Training and ONNX export of one model family."""

    family: ClassVar[str]
    settings_type: ClassVar[type]

    def check(self, settings: Any) -> None:
        """Raise :class:`~inspector.errors.ConfigError` (naming the field) for settings that cannot train."""

    @abstractmethod
    def device(self, settings: Any) -> str:
        """The device the run will train on ('cpu', '0'...)."""

    @abstractmethod
    def train(
        self, dataset: Dataset, run_dir: Path, settings: Any, resume: bool, progress: ProgressCallback
    ) -> Path:
        """Train (or, with ``resume``, continue) into ``run_dir``; return the trained artefact's path.

        ``progress`` is called after every step; an exception it raises stops the run.
        """

    @abstractmethod
    def export(self, checkpoint: Path, settings: Any, dataset: Dataset, onnx_path: Path) -> ExportedGraph:
        """Write the ONNX graph of ``checkpoint`` to ``onnx_path``."""

"""The interface every model family implements.

A family reads one kind of model: it turns a camera frame into the model's
input tensor (:meth:`ModelFamily.preprocess`) and the model's raw outputs into
:class:`~inspector.engine.findings.Findings` in frame pixels
(:meth:`ModelFamily.postprocess`). Everything else (the ONNX Runtime session,
providers, keep-warm, the decision rule, timing) is shared and lives in
:mod:`~inspector.engine.runtime`, :mod:`~inspector.engine.decision_rules` and
:mod:`~inspector.engine.detector`.

A family is registered by name in :mod:`inspector.engine.families`; a model
package's ``model.json`` names its family. Its station settings are its own
section of the config, ``detector.families.<name>``
(:mod:`inspector.config.families`): the family names the section's class
(:attr:`ModelFamily.settings_type`) and reads it as :attr:`ModelFamily.settings`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator

import numpy as np

from inspector.config.schema import DetectorConfig
from inspector.engine.findings import Findings
from inspector.engine.model_metadata import ModelMetadata


class ModelFamily(ABC):
    """Pre- and post-processing of one kind of model."""

    name: ClassVar[str]
    #: the class of the family's station settings, ``detector.families.<name>`` (one of :mod:`inspector.config.families`)
    settings_type: ClassVar[type]
    #: whether the family has a ``min_confidence`` in its settings: it discards scores under it, and cannot reject below it
    uses_min_confidence: ClassVar[bool] = False

    def __init__(self, metadata: ModelMetadata, config: DetectorConfig, score_floor: float | None = None) -> None:
        """``score_floor``: keep scores down to this (measuring); None = :meth:`rule_score_floor` (the station's
        ``min_confidence``, for families that have one)."""
        self.metadata = metadata
        self.config = config
        self.settings: Any = config.families.of(self.name)
        self.score_floor = self.rule_score_floor() if score_floor is None else score_floor

    @classmethod
    def settings_path(cls, field: str) -> str:
        """The dotted config path of one of the family's settings, for messages."""
        return f"detector.families.{cls.name}.{field}"

    @property
    @abstractmethod
    def input_tensor(self) -> np.ndarray:
        """The tensor :meth:`preprocess` fills (bound to the session once, reused for every frame)."""

    @abstractmethod
    def check_model(self, input_shape: list, output_shapes: list[list]) -> None:
        """Raise :class:`~inspector.errors.ModelError` when the ONNX graph does not fit the metadata."""

    @property
    def runs_per_frame(self) -> int:
        """Model runs per frame (more than one when the frame is cut into tiles)."""
        return 1

    @abstractmethod
    def preprocess(self, frame: np.ndarray) -> Iterator[np.ndarray]:
        """The input tensor of each model run for ``frame`` (mono8 2-D or BGR8), one at a time.

        The next tensor may reuse the same buffer: the caller runs the model on
        each before asking for the next.
        """

    @abstractmethod
    def postprocess(self, outputs: list[list[np.ndarray]], thresholds: tuple[float, ...]) -> Findings:
        """Findings in frame pixels from the outputs of each run of :meth:`preprocess`'s tensors.

        ``thresholds`` (per class, normalised units) are the decision rule's:
        map families cut their maps into regions there.
        """

    def rule_score_floor(self) -> float | None:
        """The lowest score the decision rule may act on: the station's ``min_confidence`` for families that have
        one, else None (every score counts)."""
        return self.settings.min_confidence if self.uses_min_confidence else None

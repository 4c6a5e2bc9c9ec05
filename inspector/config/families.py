"""The model families' station settings: ``detector.families.<family>``, one typed section per family.

A station's config chooses each family's section by the family's name, as
Frigate's ``detectors:`` chooses a detector's settings by its ``type``; but a
model's family is named by its package (``model.json``), so the station never
picks one: it only says how it runs every model of that family::

    detector:
      families:
        yolo: {iou_threshold: 0.7, min_confidence: 0.05}

Every family has its section here, even one with no setting yet, and each
family plug-in (:mod:`inspector.engine.families`) names its section's class
(``settings_type``): registering a family without one is refused, so a family
and its station settings cannot drift apart. They are declared here rather
than in the plug-in's module because the config is the house's lowest layer:
a config is checked when it loads, before (and without) any engine.

Settings a model package brings (pre-processing, tiles, score normalisation)
stay in its ``model.json``; thresholds and areas that every family shares stay
in ``detector`` itself (``class_thresholds``, ``min_area_px``, ``min_area_mm2``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from inspector.errors import ConfigError
from inspector.typed import spec


@dataclass(frozen=True)
class YoloSettings:
    """How the station runs a YOLO detector (``detector.families.yolo``)."""

    iou_threshold: float = spec(
        0.7,
        doc="Non-maximum suppression: of two boxes of one class overlapping by more than this (intersection over "
        "union), the weaker is dropped.",
        minimum=0,
        maximum=1,
    )
    min_confidence: float = spec(
        0.05,
        doc="Detections below this score are discarded before the decision, so no class rejects below it; keep it at "
        "or below the model's reject thresholds ('inspector export --min-threshold' keeps them above it).",
        minimum=0,
        maximum=1,
    )


@dataclass(frozen=True)
class AnomalySettings:
    """How the station runs an anomaly model (``detector.families.anomaly``): nothing to set yet.

    Its pre-processing comes with its package (``family_settings`` in
    ``model.json``), its thresholds from ``detector.class_thresholds`` or the
    package; every score counts (no floor).
    """


@dataclass(frozen=True)
class SegmentationSettings:
    """How the station runs a segmentation model (``detector.families.segmentation``): nothing to set yet.

    As for anomaly models, its pre-processing comes with its package and every
    score counts.
    """


@dataclass(frozen=True)
class FamilySettings:
    """Each model family's station settings, by the family's name (``detector.families``)."""

    yolo: YoloSettings = spec(
        factory=YoloSettings, doc="YOLO detectors: box overlap for NMS, the lowest score kept."
    )
    anomaly: AnomalySettings = spec(
        factory=AnomalySettings, doc="Anomaly models built from good parts: no station setting yet."
    )
    segmentation: SegmentationSettings = spec(
        factory=SegmentationSettings, doc="Supervised segmentation models: no station setting yet."
    )

    @classmethod
    def names(cls) -> list[str]:
        """The families that have a section, sorted."""
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def settings_type(cls, family: str) -> type:
        """The class of ``family``'s section; :class:`ConfigError` (naming the known ones) when it has none."""
        if family not in cls.names():
            raise ConfigError(f"detector.families.{family}", f"no such model family (known: {', '.join(cls.names())})")
        return typing.get_type_hints(cls)[family]

    def of(self, family: str) -> Any:
        """``family``'s settings."""
        self.settings_type(family)
        return getattr(self, family)

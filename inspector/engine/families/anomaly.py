"""The anomaly family: a model built from good parts alone, scoring how unlike them each pixel is.

The graph (made by :mod:`inspector.training.backends.anomaly`) runs a pretrained
feature extractor and measures each feature patch's distance to the nearest
patch of a memory bank of good parts (PatchCore); its output is a one-class
``anomaly`` map. Regions of the map above the threshold become ``anomaly``
detections with their box, area and outline.
"""

from __future__ import annotations

from inspector.config.families import AnomalySettings
from inspector.engine.families.registry import register_family
from inspector.engine.families.score_maps import ScoreMapFamily


@register_family
class AnomalyFamily(ScoreMapFamily):
    name = "anomaly"
    settings_type = AnomalySettings  # detector.families.anomaly: nothing to set yet

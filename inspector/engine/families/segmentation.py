"""The supervised segmentation family: a head on a pretrained feature extractor, one defect map per class.

The graph (made by :mod:`inspector.training.backends.segmentation`) gives a
defect map per labelled class (blurred logits, which the package's score
normalisation turns into scores); a part's score for a class is the peak of
its map. Regions above the class's threshold become detections of that class.
"""

from __future__ import annotations

from inspector.config.families import SegmentationSettings
from inspector.engine.families.registry import register_family
from inspector.engine.families.score_maps import ScoreMapFamily


@register_family
class SegmentationFamily(ScoreMapFamily):
    name = "segmentation"
    settings_type = SegmentationSettings  # detector.families.segmentation: nothing to set yet

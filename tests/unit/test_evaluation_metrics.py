"""Image-level metrics as a plant sees them: false rejects, escapes, AUROC, per-class recall, operating point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.config.schema import DetectorConfig, FamilySettings, YoloSettings
from inspector.engine.decision_rules import DecisionRules
from inspector.errors import ConfigError, ModelError
from inspector.evaluation import (
    ScoredImage,
    auroc,
    image_metrics,
    operating_point,
    per_class_detection,
    roc_curve,
    rounded_up,
    threshold_for_false_reject_rate,
)
from inspector.training.package import finite

CLASSES = ["scratch", "dent"]


def good(score: float = 0.0, cls: str = "scratch") -> ScoredImage:
    return ScoredImage(False, frozenset(), {cls: score} if score else {})


def bad(true: str, **scores: float) -> ScoredImage:
    return ScoredImage(True, frozenset({true}), dict(scores))


SCORED = [
    good(), good(), good(0.1), good(0.3), good(0.6),
    bad("scratch", scratch=0.9), bad("scratch", dent=0.5), bad("dent", dent=0.2), bad("dent"),
]


def test_false_rejects_escapes_and_per_class_recall_at_a_threshold():
    m = image_metrics(SCORED, {"scratch": 0.4, "dent": 0.4})
    assert (m["good_images"], m["defective_images"]) == (5, 4)
    assert (m["false_rejects"], m["escapes"]) == (1, 2)
    assert m["false_reject_rate"] == pytest.approx(0.2) and m["escape_rate"] == pytest.approx(0.5)
    assert m["per_class_recall"] == {"dent": {"images": 2, "recall": 0.0}, "scratch": {"images": 2, "recall": 1.0}}


def test_per_class_detection_tells_a_reject_for_the_right_reason_from_one_by_another_class():
    details = per_class_detection(SCORED, {"scratch": 0.4, "dent": 0.4})
    assert details["scratch"]["recall"] == 1.0  # both scratched parts are rejected...
    assert details["scratch"]["rejected_by_own_class"] == 0.5  # ...one of them by a 'dent' detection
    assert details["dent"]["mean_defect_score"] == pytest.approx(0.2)  # of the dented parts with a finding...
    assert details["dent"]["nothing_found"] == 1  # ...the other had none


def test_auroc_is_the_area_under_the_roc_curve():
    frr, tpr, thresholds = roc_curve(SCORED)
    assert (frr[0], tpr[0]) == (0.0, 0.0) and (frr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(tpr) >= 0) and np.all(np.diff(thresholds) < 0)
    scores = np.array([s.defect_score for s in SCORED])
    labels = np.array([s.defective for s in SCORED])
    assert np.trapezoid(tpr, frr) == pytest.approx(auroc(scores, labels))


def test_a_perfect_and_a_useless_score():
    perfect = [good(0.1), good(0.2), bad("dent", dent=0.8)]
    assert auroc(np.array([s.defect_score for s in perfect]), np.array([s.defective for s in perfect])) == 1.0
    blind = [good(), good(), bad("dent"), bad("dent")]
    assert auroc(np.array([0.0] * 4), np.array([s.defective for s in blind])) == 0.5


def test_the_operating_point_meets_the_target_false_reject_rate_with_the_lowest_threshold():
    point = operating_point(SCORED, 0.2)  # one of five good parts may be rejected
    assert point["false_reject_rate"] <= 0.2
    assert 0.3 < point["threshold"] <= 0.6  # just above the second-highest good score
    assert point["escape_rate"] == 0.5
    assert point["per_class_recall"] == {"dent": 0.0, "scratch": 1.0}
    strict = operating_point(SCORED, 0.0)
    assert strict["false_reject_rate"] == 0.0 and strict["threshold"] > 0.6
    assert threshold_for_false_reject_rate(SCORED, 1.0) == -math.inf  # every good part may go: any score rejects


def test_a_stored_threshold_still_passes_the_good_part_it_was_chosen_to_pass():
    # a good part scoring 0.20716: to nearest, 0.2072 would still pass it, but 0.20724 -> 0.2072 would not
    good_score = np.float32(0.20724)
    chosen = threshold_for_false_reject_rate([good(float(good_score)), good(0.1), bad("dent", dent=0.9)], 0.0)
    stored = rounded_up(chosen)
    assert stored == 0.2073 and good_score < stored
    assert rounded_up(0.2072) == 0.2072 and rounded_up(0.5) == 0.5  # already at four decimals: unchanged


def line_rules(config: DetectorConfig, **model_thresholds: float) -> dict[str, float]:
    """The thresholds a YOLO model's line decides with (its score floor is the station's min_confidence)."""
    return DecisionRules.build(
        CLASSES, config.class_thresholds, model_thresholds, config.families.yolo.min_confidence, config.min_area_px
    ).by_class


def test_line_thresholds_follow_the_decision_rules_station_first_then_model_then_min_confidence():
    config = DetectorConfig(model="m.onnx", families=FamilySettings(yolo=YoloSettings(min_confidence=0.2)), class_thresholds={"dent": 0.7})
    assert line_rules(config, scratch=0.5, dent=0.4) == {"scratch": 0.5, "dent": 0.7}
    assert line_rules(config) == {"scratch": 0.2, "dent": 0.7}


def test_a_model_threshold_under_the_line_s_min_confidence_cannot_reject_below_it():
    config = DetectorConfig(model="m.onnx", families=FamilySettings(yolo=YoloSettings(min_confidence=0.25)))
    assert line_rules(config, scratch=0.05, dent=0.3) == {"scratch": 0.25, "dent": 0.3}


def test_a_station_threshold_for_a_class_the_model_lacks_is_refused():
    with pytest.raises(ConfigError, match="class_thresholds.crack"):
        line_rules(DetectorConfig(model="m.onnx", class_thresholds={"crack": 0.5}))


def test_a_family_without_a_score_floor_needs_a_threshold_for_every_class():
    with pytest.raises(ModelError, match="no reject threshold for class 'dent'"):
        DecisionRules.build(CLASSES, {}, {"scratch": 1.0}, None, 0.0)
    unbounded = DecisionRules.build(CLASSES, {"dent": -0.5}, {"scratch": 3.2}, None, 0.0)
    assert unbounded.by_class == {"scratch": 3.2, "dent": -0.5}  # anomaly scores need not lie in 0..1


def test_metrics_without_good_or_defective_images_serialise_as_null():
    m = image_metrics([bad("dent", dent=0.9)], {"scratch": 0.5, "dent": 0.5})
    assert math.isnan(m["false_reject_rate"]) and math.isnan(m["auroc"])
    clean = finite(m)
    assert clean["false_reject_rate"] is None and clean["auroc"] is None and clean["escape_rate"] == 0.0

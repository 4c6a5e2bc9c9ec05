"""Findings of every family and the one decision rule: maps into regions, levels, minimum areas, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.engine.decision_rules import DecisionRules, rejected_at
from inspector.engine.findings import NO_LEVEL, Findings, MapGeometry, map_level
from inspector.evaluation import ScoredImage, threshold_for_false_reject_rate

CLASSES = ("anomaly",)


def a_map(shape=(20, 30), spots=()):
    """A score map at -1 with square spots ``(y, x, side, value)``."""
    score_map = np.full(shape, -1.0, np.float32)
    for y, x, side, value in spots:
        score_map[y : y + side, x : x + side] = value
    return score_map


def test_a_map_region_becomes_a_detection_with_box_area_and_outline_in_frame_pixels():
    geometry = MapGeometry((160, 240), 8.0, 8.0)  # the map is 1/8 of the frame
    maps = a_map(spots=[(2, 3, 4, 2.5)])[None]
    findings = Findings.from_maps(CLASSES, maps, geometry, thresholds=(1.0,))
    (region,) = findings.regions
    assert region.score == pytest.approx(2.5)
    assert region.box == (24.0, 16.0, 56.0, 48.0)  # map cells 3..6 x 2..5, times 8
    assert region.area_px == 16 * 64  # 16 map cells of 8 x 8 frame pixels
    xs, ys = zip(*region.outline)
    assert 24 <= min(xs) and max(xs) <= 56 and 16 <= min(ys) and max(ys) <= 48
    judgement = DecisionRules.build(list(CLASSES), {}, {"anomaly": 1.0}, None, 0.0).judge(findings, "m@1")
    assert judgement.rejected and judgement.detections[0].causes_reject and judgement.detections[0].model == "m@1"
    assert judgement.detections[0].outline  # map regions carry their outline for the HMI


def test_nothing_above_the_threshold_is_no_region_but_the_part_still_has_its_score():
    maps = a_map(spots=[(5, 5, 2, 0.8)])[None]
    findings = Findings.from_maps(CLASSES, maps, MapGeometry((20, 30), 1.0, 1.0), thresholds=(1.0,))
    assert findings.regions == () and findings.part_score == pytest.approx(0.8)
    assert findings.levels((0.0,)) == pytest.approx((0.8,))


def test_the_level_with_a_minimum_area_is_the_highest_threshold_a_large_enough_region_survives():
    # a 1-pixel spike at 5.0 on a 3x3 plateau at 2.0 on a 6x6 shoulder at 1.0
    score_map = a_map(spots=[(2, 2, 6, 1.0), (3, 3, 3, 2.0), (4, 4, 1, 5.0)])
    assert map_level(score_map, 0) == 5.0
    assert map_level(score_map, 9) == 2.0
    assert map_level(score_map, 10) == 1.0
    assert map_level(score_map, 36) == 1.0
    assert map_level(score_map, 37) == -1.0  # only the whole map is that large
    assert map_level(score_map, 601) == NO_LEVEL  # larger than the map


@pytest.mark.parametrize("min_area", [0.0, 9.0, 10.0, 40.0])
def test_the_rule_on_a_map_rejects_exactly_when_its_level_reaches_the_threshold(min_area):
    score_map = a_map(spots=[(2, 2, 6, 1.0), (3, 3, 3, 2.0), (4, 4, 1, 5.0)])[None]
    geometry = MapGeometry((20, 30), 1.0, 1.0)
    for threshold in (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 6.0):
        rules = DecisionRules.build(list(CLASSES), {}, {"anomaly": threshold}, None, min_area)
        findings = Findings.from_maps(CLASSES, score_map, geometry, rules.thresholds)
        judgement = rules.judge(findings)
        assert judgement.rejected == any(d.causes_reject for d in judgement.detections)
        assert judgement.rejected == rejected_at(judgement.levels, rules.by_class)
        largest = max((d.area_px for d in judgement.detections), default=0)
        assert judgement.rejected == (largest >= min_area and bool(judgement.detections))


def test_boxes_reject_at_their_class_threshold_and_minimum_area_and_levels_agree():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 3, 3], [5, 5, 25, 25]], np.float32)
    findings = Findings.from_boxes(("scratch", "dent"), boxes, np.array([0.6, 0.9, 0.3]), np.array([0, 1, 1]))
    rules = DecisionRules.build(["scratch", "dent"], {}, {"scratch": 0.5, "dent": 0.5}, 0.05, min_area_px=50.0)
    judgement = rules.judge(findings)
    assert [d.causes_reject for d in judgement.detections] == [True, False, False]  # the dent is too small, the other too weak
    assert judgement.levels == {"scratch": pytest.approx(0.6), "dent": pytest.approx(0.3)}
    assert judgement.rejected


def test_a_mm2_minimum_applies_only_on_a_calibrated_camera():
    boxes = np.array([[0, 0, 10, 10]], np.float32)  # 100 px
    findings = Findings.from_boxes(("dent",), boxes, np.array([0.9]), np.array([0]))
    rules = DecisionRules.build(["dent"], {}, {"dent": 0.5}, 0.05, 0.0, {"dent": 2.0})
    assert rules.judge(findings).rejected  # no scale: the mm² minimum cannot let a defect pass
    assert not rules.judge(findings, mm_per_px=0.1).rejected  # 100 px = 1 mm² < 2 mm²
    assert rules.judge(findings, mm_per_px=0.2).rejected  # 4 mm²


def test_thresholds_on_an_unbounded_score_are_chosen_above_the_allowed_good_part():
    scored = [ScoredImage(False, frozenset(), {"anomaly": v}) for v in (-3.0, 0.2, 7.5, 12.25)]
    scored.append(ScoredImage(True, frozenset({"crack"}), {"anomaly": 40.0}))
    threshold = threshold_for_false_reject_rate(scored, 0.25)  # one of four good parts may go
    assert 7.5 < threshold < 7.51
    assert threshold_for_false_reject_rate(scored, 0.0) > 12.25
    assert math.isinf(threshold_for_false_reject_rate(scored, 1.0))


def test_a_region_one_cell_wide_is_still_outlined_by_its_cells():
    score_map = a_map()
    score_map[4:7, 10] = 3.0  # a vertical streak, one cell wide
    (region,) = Findings.from_maps(CLASSES, score_map[None], MapGeometry((160, 240), 8.0, 8.0), (1.0,)).regions
    assert len(region.outline) >= 4
    xs, ys = zip(*region.outline)
    assert (min(xs), max(xs), min(ys), max(ys)) == (80.0, 88.0, 32.0, 56.0)  # the streak's cells, in frame pixels

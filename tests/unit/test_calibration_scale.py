"""Pixel-to-millimetre scale, defect areas in mm² and the per-class minimum defect size in mm².

Ground truth: a board facing the camera at distance Z seen with focal length f
has Z / f mm per pixel. Stated tolerance: the measured scale is within 0.5 %
of it (board) and within 1 % of the drawn size (reference disc).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from calibration import CalibrationError
from calibration.intrinsics import BoardSpec, CameraCalibration
from calibration.scale import scale_from_board, scale_from_disc
from calibration.synthetic_board import BoardRenderer
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.decision_rules import DecisionRules
from inspector.engine.findings import Findings
from inspector.errors import ConfigError

K = np.array([[800.0, 0.0, 320.0], [0.0, 800.0, 240.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.25, 0.08, 0.001, -0.0015, 0.0])
BOARD = BoardSpec(9, 6, 20.0)
FACING = np.zeros((3, 1))
AT_500_MM = np.array([[-80.0], [-50.0], [500.0]])  # board centre on the optical axis


def test_scale_from_a_board_facing_an_undistorted_camera_is_distance_over_focal_length():
    image = BoardRenderer(K, np.zeros(5), (640, 480)).render(BOARD, FACING, AT_500_MM, noise_sigma=1.0)
    measured = scale_from_board(image, BOARD)
    assert measured.mm_per_px == pytest.approx(500.0 / 800.0, rel=0.005)
    assert measured.spread < 0.01


def test_with_the_cameras_intrinsics_the_scale_is_measured_on_undistorted_corners():
    image = BoardRenderer(K, DIST, (640, 480)).render(BOARD, FACING, AT_500_MM, noise_sigma=1.0)
    calibration = CameraCalibration("top", (640, 480), K.tolist(), DIST.tolist(), 0.1, BOARD)
    measured = scale_from_board(image, BOARD, calibration)
    assert measured.mm_per_px == pytest.approx(500.0 / 800.0, rel=0.005)


def test_a_tilted_board_is_refused_for_scale():
    tilted = np.radians([[35.0], [0.0], [0.0]])
    image = BoardRenderer(K, np.zeros(5), (640, 480)).render(BOARD, tilted, AT_500_MM)
    with pytest.raises(CalibrationError, match="tilted"):
        scale_from_board(image, BOARD)


def test_scale_from_a_reference_disc_of_known_diameter():
    image = np.full((480, 640), 30, np.uint8)
    cv2.circle(image, (330, 250), 150, 200, -1, cv2.LINE_AA)  # 300 px across
    measured = scale_from_disc(image, 60.0)
    assert measured.mm_per_px == pytest.approx(60.0 / 300.0, rel=0.01)


def test_a_dark_reference_disc_is_measured_with_dark_disc():
    image = np.full((480, 640), 210, np.uint8)
    cv2.circle(image, (300, 240), 100, 20, -1, cv2.LINE_AA)
    assert scale_from_disc(image, 50.0, bright=False).mm_per_px == pytest.approx(50.0 / 200.0, rel=0.01)


# -- areas in mm² and the minimum defect size in mm² -------------------------------------

CLASSES = ["scratch", "dent"]
BOXES = np.array([[0.0, 0.0, 100.0, 50.0], [10.0, 10.0, 30.0, 30.0]], np.float32)  # 5000 px², 400 px²
SCORES = np.array([0.9, 0.9], np.float32)
IDS = np.array([0, 1])


def rules(min_area_mm2: dict[str, float]) -> DecisionRules:
    return DecisionRules.build(CLASSES, {}, {"scratch": 0.5, "dent": 0.5}, 0.25, 0.0, min_area_mm2)


def test_with_a_scale_detections_carry_their_area_in_mm2():
    scratch, dent = detections_of(rules({}), BOXES, SCORES, IDS, mm_per_px=0.1)
    assert scratch.area_mm2 == pytest.approx(50.0)
    assert dent.area_mm2 == pytest.approx(4.0)


def test_a_defect_below_its_class_minimum_in_mm2_does_not_reject_and_one_above_does():
    scratch, dent = detections_of(rules({"scratch": 49.0, "dent": 5.0}), BOXES, SCORES, IDS, mm_per_px=0.1)
    assert scratch.causes_reject  # 50 mm² >= 49
    assert not dent.causes_reject  # 4 mm² < 5
    scratch, _ = detections_of(rules({"scratch": 51.0}), BOXES, SCORES, IDS, mm_per_px=0.1)
    assert not scratch.causes_reject


def test_without_a_scale_there_is_no_mm2_area_and_the_mm2_minimum_cannot_let_a_defect_pass():
    scratch, dent = detections_of(rules({"scratch": 1000.0, "dent": 1000.0}), BOXES, SCORES, IDS)
    assert scratch.area_mm2 is None and dent.area_mm2 is None
    assert scratch.causes_reject and dent.causes_reject


def test_a_mm2_minimum_for_a_class_the_model_lacks_names_the_field():
    with pytest.raises(ConfigError) as info:
        rules({"scrach": 2.0})
    assert info.value.field == "detector.min_area_mm2.scrach"


def test_a_negative_mm2_minimum_names_the_field():
    with pytest.raises(ConfigError) as info:
        rules({"dent": -1.0})
    assert info.value.field == "detector.min_area_mm2.dent"


def test_the_shipped_config_loads_unchanged_with_no_mm2_minimum_and_calibration_defaults():
    config = load_config(DEFAULT_CONFIG)
    assert config.detector.min_area_mm2 == {}
    assert config.calibration.challenge_parts == []
    assert config.calibration.require_verification is False
    assert config.calibration.undistort is False


def test_a_misspelt_calibration_key_names_its_field(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["calibration"] = {"health": {"min_focus_ration": 0.5}}
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "calibration.health.min_focus_ration"


def detections_of(rules: DecisionRules, boxes, scores, class_ids, mm_per_px=None):
    """The decision rule's detections of scored boxes (a detector family's findings)."""
    return rules.judge(Findings.from_boxes(rules.classes, boxes, scores, class_ids), mm_per_px=mm_per_px).detections

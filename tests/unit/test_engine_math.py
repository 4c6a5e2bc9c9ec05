"""Detector maths: letterbox geometry and tensor, YOLO output decoding, NMS, decision rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspector.engine.decision_rules import DecisionRules
from inspector.engine.findings import Findings
from inspector.engine.letterbox import Letterbox, LetterboxGeometry
from inspector.engine.yolo_decode import box_iou, decode_yolo, nms
from inspector.errors import ConfigError

PAD = np.float32(114 / 255)


# -- letterbox geometry ----------------------------------------------------------------


def test_landscape_frame_is_halved_and_centred_vertically():
    geom = LetterboxGeometry.fit((480, 640), (320, 320))
    assert geom.gain == 0.5
    assert geom.content_hw == (240, 320)
    assert (geom.top, geom.left) == (40, 0)


def test_portrait_frame_is_centred_horizontally():
    geom = LetterboxGeometry.fit((640, 480), (320, 320))
    assert geom.content_hw == (320, 240)
    assert (geom.top, geom.left) == (0, 40)


def test_to_frame_maps_input_boxes_back_to_frame_pixels():
    geom = LetterboxGeometry.fit((480, 640), (320, 320))
    in_input = np.array([[10.0, 40 + 20.0, 110.0, 40 + 60.0]])
    assert np.allclose(geom.to_frame(in_input), [[20.0, 40.0, 220.0, 120.0]])
    assert np.array_equal(in_input, [[10.0, 60.0, 110.0, 100.0]])  # the input is not modified


def test_to_frame_clips_boxes_to_the_frame():
    geom = LetterboxGeometry.fit((480, 640), (320, 320))
    in_padding = np.array([[-50.0, 0.0, 400.0, 400.0]])
    assert np.allclose(geom.to_frame(in_padding), [[0.0, 0.0, 640.0, 480.0]])


# -- letterbox tensor ------------------------------------------------------------------


def test_mono_frame_fills_three_equal_planes_with_padding_around_the_content():
    frame = np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)
    tensor = Letterbox((320, 320))(frame)

    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert np.array_equal(tensor[0, 0], tensor[0, 1]) and np.array_equal(tensor[0, 0], tensor[0, 2])
    assert np.all(tensor[0, :, :40, :] == PAD)
    assert np.all(tensor[0, :, 280:, :] == PAD)
    expected = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR) / 255
    assert np.allclose(tensor[0, 0, 40:280, :], expected, atol=1e-6)


def test_bgr_frame_becomes_rgb_planes():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 20, 30  # B, G, R
    tensor = Letterbox((320, 320))(frame)
    content = tensor[0, :, 40:280, :]
    assert np.allclose(content[0], 30 / 255)  # R
    assert np.allclose(content[1], 20 / 255)  # G
    assert np.allclose(content[2], 10 / 255)  # B


def test_bgr_content_equals_the_resized_frame_channel_by_channel():
    frame = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    letterbox = Letterbox((320, 320))
    tensor = letterbox(frame)
    geom = letterbox.geometry
    ch, cw = geom.content_hw
    resized = cv2.resize(frame, (cw, ch), interpolation=cv2.INTER_LINEAR) / 255
    for c in range(3):
        region = tensor[0, c, geom.top : geom.top + ch, geom.left : geom.left + cw]
        assert np.allclose(region, resized[:, :, 2 - c], atol=1e-6)


def test_tensor_is_reused_for_frames_of_the_same_shape():
    letterbox = Letterbox((320, 320))
    rng = np.random.default_rng(2)
    first = letterbox(rng.integers(0, 256, (480, 640), dtype=np.uint8))
    second_frame = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    second = letterbox(second_frame)
    assert id(first) == id(second)
    expected = cv2.resize(second_frame, (320, 240), interpolation=cv2.INTER_LINEAR) / 255
    assert np.allclose(second[0, 0, 40:280], expected, atol=1e-6)  # holds the new frame


def test_new_frame_shape_repaints_the_padding():
    letterbox = Letterbox((320, 320))
    letterbox(np.full((480, 640), 255, np.uint8))  # content in rows 40..280
    tensor = letterbox(np.full((640, 480), 255, np.uint8))  # now content in columns 40..280
    assert np.all(tensor[0, :, :, :40] == PAD)
    assert np.all(tensor[0, :, :, 280:] == PAD)
    assert np.all(tensor[0, :, :, 40:280] == 1.0)


# -- YOLO decoding and NMS ---------------------------------------------------------------


def yolo_output(anchors: list[tuple[tuple[float, float, float, float], list[float]]]) -> np.ndarray:
    """A ``1 x (4 + C) x N`` output from (cx, cy, w, h) boxes and per-class scores."""
    columns = [np.array([*box, *scores], np.float32) for box, scores in anchors]
    return np.stack(columns, axis=1)[None]


def test_decode_keeps_each_anchors_best_class_and_converts_to_xyxy():
    out = yolo_output([((100, 100, 40, 20), [0.1, 0.7, 0.4])])
    raw = decode_yolo(out, min_confidence=0.25, iou_threshold=0.7)
    assert len(raw) == 1
    assert raw.class_ids.tolist() == [1]
    assert raw.scores.tolist() == pytest.approx([0.7])
    assert raw.boxes.tolist() == [[80.0, 90.0, 120.0, 110.0]]


def test_decode_drops_anchors_below_min_confidence():
    out = yolo_output([((100, 100, 40, 40), [0.2, 0.1]), ((300, 300, 40, 40), [0.05, 0.24])])
    raw = decode_yolo(out, min_confidence=0.25, iou_threshold=0.7)
    assert len(raw) == 0
    assert raw.boxes.shape == (0, 4)


def test_decode_suppresses_overlapping_boxes_of_one_class_but_not_of_different_classes():
    out = yolo_output([
        ((100, 100, 50, 50), [0.9, 0.0]),   # kept
        ((104, 102, 50, 50), [0.8, 0.1]),   # same class, overlaps the first: suppressed
        ((100, 100, 50, 50), [0.2, 0.85]),  # same place, other class: kept
        ((400, 300, 50, 50), [0.5, 0.0]),   # same class, far away: kept
        ((250, 250, 30, 30), [0.1, 0.2]),   # too weak
    ])
    raw = decode_yolo(out, min_confidence=0.25, iou_threshold=0.5)
    assert raw.scores.tolist() == pytest.approx([0.9, 0.85, 0.5])
    assert raw.class_ids.tolist() == [0, 1, 0]
    assert raw.boxes.tolist() == [[75, 75, 125, 125], [75, 75, 125, 125], [375, 275, 425, 325]]


def test_decode_accepts_an_output_without_the_batch_axis():
    out = yolo_output([((100, 100, 50, 50), [0.9, 0.0])])
    assert decode_yolo(out[0], 0.25, 0.7).scores.tolist() == decode_yolo(out, 0.25, 0.7).scores.tolist()


def reference_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Brute force: a box survives unless a surviving higher-scored box overlaps it too much."""
    def iou(a, b) -> float:
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if all(iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_a_brute_force_reference_on_random_boxes(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (150, 2))
    wh = rng.uniform(5, 60, (150, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.random(150)
    kept = nms(boxes, scores, 0.45)
    assert kept.tolist() == reference_nms(boxes, scores, 0.45)
    assert 1 < len(kept) < 150  # the boxes did overlap and did not all collapse


def test_nms_keeps_boxes_without_area_and_orders_all_by_score():
    boxes = np.array([
        [0.0, 0.0, 10.0, 10.0],  # kept: the best
        [1.0, 1.0, 10.0, 10.0],  # suppressed by the first (IoU 0.81)
        [5.0, 5.0, 5.0, 9.0],  # no area: overlaps nothing, kept
        [50.0, 50.0, 50.0, 50.0],  # no area either; not "identical" to the other flat box
        [40.0, 40.0, 60.0, 60.0],  # kept, with a score of 0
    ])
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.0])
    kept = nms(boxes, scores, 0.7)
    assert kept.tolist() == [0, 2, 3, 4] == reference_nms(boxes, scores, 0.7)


def test_nms_of_no_boxes_keeps_none():
    assert nms(np.empty((0, 4)), np.empty(0), 0.7).tolist() == []


def test_iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [5.0, 0.0, 15.0, 10.0]])
    assert box_iou(a, b)[0].tolist() == pytest.approx([1.0, 0.0, 50 / 150])


# -- decision rules ----------------------------------------------------------------------


CLASSES = ["scratch", "dent", "crack"]


def test_threshold_comes_from_config_then_model_then_default():
    rules = DecisionRules.build(
        CLASSES, config_thresholds={"scratch": 0.9}, model_thresholds={"scratch": 0.5, "dent": 0.6},
        score_floor=0.25, min_area_px=0.0,
    )
    assert rules.thresholds == (0.9, 0.6, 0.25)


def test_config_threshold_for_a_class_the_model_lacks_is_rejected_by_field():
    with pytest.raises(ConfigError) as info:
        DecisionRules.build(CLASSES, {"scrach": 0.5}, {}, 0.25, 0.0)
    assert info.value.field == "detector.class_thresholds.scrach"
    assert "scratch" in info.value.problem  # the model's classes are listed


def test_only_detections_at_threshold_and_large_enough_reject():
    rules = DecisionRules.build(CLASSES, {"scratch": 0.5}, {}, 0.25, min_area_px=100.0)
    boxes = np.array([
        [0, 0, 20, 20],    # scratch 0.5, area 400: rejects (reaches the threshold)
        [0, 0, 20, 20],    # scratch 0.49: below threshold
        [0, 0, 5, 5],      # dent 0.99, area 25: too small
        [0, 0, 10, 10],    # crack 0.3, area 100: rejects
    ], np.float32)
    scores = np.array([0.5, 0.49, 0.99, 0.3], np.float32)
    class_ids = np.array([0, 0, 1, 2])

    detections = detections_of(rules, boxes, scores, class_ids)

    assert [d.cls for d in detections] == ["scratch", "scratch", "dent", "crack"]
    assert [d.causes_reject for d in detections] == [True, False, False, True]
    assert [d.area_px for d in detections] == [400.0, 400.0, 25.0, 100.0]
    assert detections[0].box == (0.0, 0.0, 20.0, 20.0)


def detections_of(rules: DecisionRules, boxes, scores, class_ids, mm_per_px=None):
    """The decision rule's detections of scored boxes (a detector family's findings)."""
    return rules.judge(Findings.from_boxes(rules.classes, boxes, scores, class_ids), mm_per_px=mm_per_px).detections

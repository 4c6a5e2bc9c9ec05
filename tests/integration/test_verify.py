"""``inspector verify``: challenge parts through the real detector and decision rules, into the audit trail.

The verdicts must not depend on whichever model is bundled today, so the
station here runs a tiny ONNX model built in the test with a known response:
it "sees" saturated blobs (grey level above 240) as scratches, one candidate
box per 8 x 8 cell of its 64 x 64 input (80 x 80 frame pixels), with score
``peak`` for a fully saturated cell. Known-bad challenge parts are synthetic
defective parts whose ground-truth defect is painted saturated; known-good
parts are synthetic good parts (never brighter than about 225). The real
DefectDetector (ONNX Runtime, letterbox, YOLO decoding, NMS) and DecisionRules
decide.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from calibration.challenge import VerificationGate, verification_state
from calibration.intrinsics import BoardSpec, CameraCalibration, save_calibration
from inspector.audit import AuditTrail
from inspector.cli import main
from inspector.config import load_config
from inspector.engine.model_package import ModelMetadata, sha256_of, write_metadata
from inspector.synthetic import DEFECT_CLASSES, PartGenerator

INPUT = 64
CELL = 8
SATURATION_FLOOR = 240 / 255


def build_saturation_model(path: Path, peak: float, version: str = "1") -> Path:
    """A detector whose scratch score per 8x8 input cell is ``peak`` * how far its brightest pixel is above 240."""
    cells = INPUT // CELL
    centres = (np.arange(cells) * CELL + CELL / 2).astype(np.float32)
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.stack([cx.ravel(), cy.ravel(), np.full(cells * cells, CELL, np.float32), np.full(cells * cells, CELL, np.float32)])
    consts = {
        "boxes": boxes[None].astype(np.float32),
        "zeros": np.zeros((1, len(DEFECT_CLASSES) - 1, cells * cells), np.float32),
        "floor": np.array(SATURATION_FLOOR, np.float32),
        "gain": np.array(peak / (1 - SATURATION_FLOOR), np.float32),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(peak, np.float32),
        "shape": np.array([1, 1, cells * cells], np.int64),
    }
    nodes = [
        helper.make_node("MaxPool", ["images"], ["pooled"], kernel_shape=[CELL, CELL], strides=[CELL, CELL]),
        helper.make_node("ReduceMax", ["pooled"], ["brightest"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["brightest", "floor"], ["above"]),
        helper.make_node("Mul", ["above", "gain"], ["scaled"]),
        helper.make_node("Clip", ["scaled", "lo", "hi"], ["score"]),
        helper.make_node("Reshape", ["score", "shape"], ["scratch"]),
        helper.make_node("Concat", ["boxes", "scratch", "zeros"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "saturation",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(DEFECT_CLASSES), cells * cells])],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    write_metadata(path, ModelMetadata(
        name="saturation", version=version, classes=list(DEFECT_CLASSES), input_size=(INPUT, INPUT),
        onnx_sha256=sha256_of(path), class_thresholds={"scratch": 0.5},
    ))
    return path


def known_bad(index: int) -> np.ndarray:
    """A synthetic defective part with its first ground-truth defect painted saturated (at least 40 x 40 px)."""
    part = PartGenerator(640, 480, defect_rate=1.0, seed=31).part(index)
    assert part.defects
    x1, y1, x2, y2 = part.defects[0].box
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    image = part.image.copy()
    image[max(cy - 20, 0) : cy + 20, max(cx - 20, 0) : cx + 20] = 255
    return image


def known_good(index: int) -> np.ndarray:
    part = PartGenerator(640, 480, defect_rate=0.0, seed=32).part(index)
    assert not part.defects and part.image.max() < 235
    return part.image


@pytest.fixture
def station(tmp_path):
    """Write a station (model, challenge images, config) and return a function that writes its config."""
    model = build_saturation_model(tmp_path / "model" / "model.onnx", peak=0.8)
    images = tmp_path / "challenge"
    images.mkdir()
    parts = []
    for i in range(2):
        cv2.imwrite(str(images / f"good-{i}.png"), known_good(i))
        parts.append({"name": f"good-{i}", "image": f"challenge/good-{i}.png", "expect": "pass"})
        cv2.imwrite(str(images / f"bad-{i}.png"), known_bad(i))
        parts.append({"name": f"bad-{i}", "image": f"challenge/bad-{i}.png", "expect": "reject"})

    def write(model_path: Path = model, detector: dict | None = None, calibration: dict | None = None) -> Path:
        data = {
            "station": {"name": "station-1", "state_dir": "state"},
            "cameras": [{"name": "top"}],
            "detector": {
                "model": str(model_path), "providers": ["CPUExecutionProvider"], "intra_op_threads": 1, "warmup_runs": 0,
                "require_signed_models": False,  # these tests are about the challenge parts; signatures are tested below
                **(detector or {}),
            },
            "recorder": {"database": "var/inspector.db", "image_dir": "var/images"},
            "calibration": {"challenge_parts": parts, **(calibration or {})},
        }
        path = tmp_path / "station.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def audit_entries(tmp_path: Path, action: str = "verification"):
    if not (tmp_path / "var" / "audit.db").exists():
        return []
    with AuditTrail(tmp_path / "var" / "audit.db", tmp_path / "state" / "audit.key", tmp_path / "state" / "audit.anchor") as trail:
        assert trail.verify() is None
        return trail.entries(action)


def test_verify_passes_when_every_known_bad_part_is_rejected_and_every_known_good_part_passes(station, tmp_path, capsys):
    assert main(["verify", "--config", str(station()), "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "4 challenge parts (2 known-bad, 2 known-good)" in out
    assert "verification PASSED" in out
    (entry,) = audit_entries(tmp_path)
    assert entry.user == "alice" and entry.target == "station-1" and entry.before is None
    assert entry.after["passed"] is True
    assert entry.after["model_version"] == "saturation@1"
    assert {p["name"]: p["got"] for p in entry.after["parts"]} == {"good-0": "PASS", "bad-0": "REJECT", "good-1": "PASS", "bad-1": "REJECT"}


def test_a_weakened_model_misses_the_known_bad_parts_and_verify_fails_naming_them(station, tmp_path, capsys):
    weak = build_saturation_model(tmp_path / "weak" / "model.onnx", peak=0.2)
    assert main(["verify", "--config", str(station(model_path=weak)), "--user", "alice"]) == 1
    out = capsys.readouterr().out
    assert "verification FAILED: known-bad part 'bad-0' was not rejected; known-bad part 'bad-1' was not rejected" in out
    (entry,) = audit_entries(tmp_path)
    assert entry.after["passed"] is False
    assert entry.after["failures"] == ["bad-0", "bad-1"]


def test_a_weakened_threshold_misses_a_known_bad_part_and_verify_fails_naming_it(station, tmp_path, capsys):
    """The model still scores the painted defect 0.8, but a scratch threshold of 0.95 lets it pass."""
    config = station(detector={"class_thresholds": {"scratch": 0.95}})
    assert main(["verify", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  bad-0" in out and "scratch 0.80" in out and "below the reject rules" in out
    assert "known-bad part 'bad-0' was not rejected" in out


def test_a_known_good_part_that_is_rejected_fails_verify_naming_it(station, tmp_path, capsys):
    sticker = known_good(0)
    sticker[100:140, 300:340] = 255
    cv2.imwrite(str(tmp_path / "challenge" / "good-0.png"), sticker)
    assert main(["verify", "--config", str(station())]) == 1
    assert "verification FAILED: known-good part 'good-0' was rejected" in capsys.readouterr().out


def test_defect_sizes_are_in_mm2_and_a_mm2_minimum_above_the_defect_makes_verify_fail(station, tmp_path, capsys):
    """At 0.1 mm/px a detection box of 80 x 80 px is 64 mm²: it rejects with a 50 mm² minimum, not with 100 mm²."""
    calibration = CameraCalibration("top", (640, 480), np.eye(3).tolist(), [0.0] * 5, 0.0, BoardSpec(9, 6, 25.0), mm_per_px=0.1)
    save_calibration(calibration, tmp_path / "var" / "calibration")

    assert main(["verify", "--config", str(station(detector={"min_area_mm2": {"scratch": 50.0}}))]) == 0
    bad = next(p for p in audit_entries(tmp_path)[-1].after["parts"] if p["name"] == "bad-0")
    assert {d["area_mm2"] for d in bad["detections"]} == {64.0}
    assert "64.0 mm²" in capsys.readouterr().out

    assert main(["verify", "--config", str(station(detector={"min_area_mm2": {"scratch": 100.0}}))]) == 1
    assert "known-bad part 'bad-0' was not rejected" in capsys.readouterr().out
    second = audit_entries(tmp_path)[-1]
    assert second.before == {"passed": True, "model_version": "saturation@1", "t": audit_entries(tmp_path)[0].after["t"]}


def test_undistortion_without_a_calibration_is_an_error_naming_the_camera(station, capsys):
    assert main(["verify", "--config", str(station(calibration={"undistort": True}))]) == 2
    assert "camera top: calibration.undistort is on but the camera has no calibration" in capsys.readouterr().err


def test_a_challenge_set_without_a_known_bad_part_is_refused(station, tmp_path, capsys):
    path = station()
    data = yaml.safe_load(path.read_text())
    data["calibration"]["challenge_parts"] = [p for p in data["calibration"]["challenge_parts"] if p["expect"] == "pass"]
    path.write_text(yaml.safe_dump(data))
    assert main(["verify", "--config", str(path)]) == 2
    assert "needs at least one known-bad ('reject') part" in capsys.readouterr().err


# -- the shift-start gate ----------------------------------------------------------------------


def test_a_station_requiring_verification_allows_pass_only_after_a_passing_verify_with_its_model(station, tmp_path):
    path = station(calibration={"require_verification": True, "verification_valid_h": 8.0})
    config = load_config(path)
    gate = VerificationGate(config, tmp_path, "saturation@1", recheck_s=0.0)
    now = time.time()
    assert not gate.state(now).allows_pass
    assert "no verification" in gate.state(now).reason

    assert main(["verify", "--config", str(path)]) == 0
    assert gate.state(time.time()).allows_pass

    with AuditTrail(tmp_path / "var" / "audit.db", tmp_path / "state" / "audit.key", tmp_path / "state" / "audit.anchor") as trail:
        later = time.time()
        assert not verification_state(trail, "station-1", "saturation@2", later, 8.0).allows_pass  # another model
        expired = verification_state(trail, "station-1", "saturation@1", later + 9 * 3600, 8.0)
        assert not expired.allows_pass and "valid for 8 h" in expired.reason

    weak = build_saturation_model(tmp_path / "weak" / "model.onnx", peak=0.2)
    assert main(["verify", "--config", str(station(model_path=weak, calibration={"require_verification": True}))]) == 1
    closed = gate.state(time.time())
    assert not closed.allows_pass and "failed: bad-0, bad-1" in closed.reason


def test_a_tampered_audit_trail_closes_the_gate(station, tmp_path):
    path = station(calibration={"require_verification": True})
    assert main(["verify", "--config", str(path)]) == 0
    db = sqlite3.connect(str(tmp_path / "var" / "audit.db"))
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET user = 'mallory'")
    db.commit()
    db.close()
    state = VerificationGate(load_config(path), tmp_path, "saturation@1").state(0.0)
    assert not state.allows_pass and "audit trail is broken at entry 1" in state.reason


def test_a_gate_that_is_not_required_always_allows_pass(station, tmp_path):
    gate = VerificationGate(load_config(station()), tmp_path, "saturation@1")
    assert gate.state(0.0).allows_pass
    assert not (tmp_path / "var" / "audit.db").exists()


def test_verify_refuses_an_unsigned_model_when_the_station_requires_signatures(station, tmp_path, capsys):
    from inspector.model_signing import generate_key_pair, sign_package

    _, public = generate_key_pair(tmp_path / "keys", "quality")
    config = station(detector={"require_signed_models": True, "trusted_keys": [str(public)]})
    assert main(["verify", "--config", str(config), "--user", "alice"]) == 2
    assert "is not signed" in capsys.readouterr().err
    assert audit_entries(tmp_path) == []  # nothing verified, nothing recorded
    private = tmp_path / "keys" / "quality.private.pem"
    sign_package(tmp_path / "model" / "model.onnx", private, "quality@test")
    assert main(["verify", "--config", str(config), "--user", "alice"]) == 0

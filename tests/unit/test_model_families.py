"""Model packages and family plug-ins: schema upgrade, the registry, and a score-map model through the real engine.

The score-map model here is a real ONNX graph run by ONNX Runtime: it
averages the input over 8 x 8 blocks, so a bright spot in the frame is a
high score exactly where it lies. That lets the tests check the family's
pre-processing (scaling, tiles) and post-processing (normalisation,
stitching, regions in frame pixels) against known answers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.schema import AnomalySettings, DetectorConfig, FamilySettings, YoloSettings
from inspector.engine.detector import DefectDetector
from inspector.engine.families import family_class, family_names, register_family
from inspector.engine.families.base import ModelFamily
from inspector.engine.families.score_maps import tile_windows
from inspector.engine.model_metadata import SCHEMA_VERSION, ModelMetadata, ScoreNormalisation
from inspector.engine.model_package import load_model_package, sha256_of, write_metadata
from inspector.errors import ModelError

CPU = ["CPUExecutionProvider"]


def block_mean_model(path: Path, size: int = 64) -> Path:
    """``1 x 3 x size x size`` -> ``1 x 1 x size/8 x size/8``: the mean of each 8 x 8 block of the first channel."""
    nodes = [
        helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["grey"]),
        helper.make_node("AveragePool", ["grey"], ["anomaly_map"], kernel_shape=[8, 8], strides=[8, 8]),
    ]
    graph = helper.make_graph(
        nodes, "block-mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [1, 1, size // 8, size // 8])],
        [helper.make_tensor("starts", TensorProto.INT64, [1], [0]), helper.make_tensor("ends", TensorProto.INT64, [1], [1]),
         helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def anomaly_package(tmp_path: Path, tiles=(1, 1), threshold: float = 1.0, **norm) -> Path:
    onnx_path = block_mean_model(tmp_path / "model.onnx")
    write_metadata(onnx_path, ModelMetadata(
        name="blocks", version="1", classes=["anomaly"], input_size=(64, 64), onnx_sha256=sha256_of(onnx_path),
        family="anomaly", score_normalisation=ScoreNormalisation(**norm),
        family_settings={"colour": "grey", "input_scaling": {"offset": 0.0, "scale": 255.0}, "tiles": list(tiles),
                         "tile_overlap": 0.0},
        class_thresholds={"anomaly": threshold},
    ))
    return onnx_path


def frame_with_spot(h: int = 128, w: int = 128, y: int = 32, x: int = 80, side: int = 16, level: int = 255) -> np.ndarray:
    frame = np.zeros((h, w), np.uint8)
    frame[y : y + side, x : x + side] = level
    return frame


def test_every_family_honours_the_plugin_interface():
    assert {"yolo", "anomaly", "segmentation"} <= set(family_names())
    for name in family_names():
        cls = family_class(name)
        assert issubclass(cls, ModelFamily) and cls.name == name
        for method in ("preprocess", "postprocess", "check_model"):
            assert not getattr(getattr(cls, method), "__isabstractmethod__", False)
    with pytest.raises(ModelError, match="unknown model family 'sift'"):
        family_class("sift")


def test_every_family_has_its_station_settings_and_one_without_cannot_register():
    # detector.families has a section for each registered family and for nothing else; the family reads its own
    assert FamilySettings.names() == family_names()
    config = load_config(DEFAULT_CONFIG).detector
    for name in family_names():
        assert family_class(name).settings_type is FamilySettings.settings_type(name)
    meta = load_model_package(config.model).metadata
    assert family_class("yolo")(meta, config).settings is config.families.yolo

    class Sift(family_class("anomaly")):
        name = "sift"

    with pytest.raises(ValueError, match="'sift' has no station settings"):
        register_family(Sift)
    with pytest.raises(ModelError, match="unknown model family 'sift'"):
        family_class("sift")

    class Unsettled(family_class("anomaly")):
        settings_type = YoloSettings

    with pytest.raises(ValueError, match="must name AnomalySettings as its settings_type"):
        register_family(Unsettled)
    assert family_class("anomaly").settings_type is AnomalySettings


def test_the_shipped_default_package_loads_unchanged_as_a_schema_1_yolo_model():
    path = Path(load_config(DEFAULT_CONFIG).detector.model)
    raw = json.loads(path.with_suffix(".json").read_text())
    assert "family" not in raw and "schema_version" not in raw  # the file as shipped: schema 1
    meta = load_model_package(path).metadata
    assert meta.family == "yolo" and meta.schema_version == SCHEMA_VERSION
    assert meta.score_normalisation == ScoreNormalisation()  # probabilities, as they were
    assert json.loads(path.with_suffix(".json").read_text()) == raw  # upgraded in memory, never rewritten


def test_a_package_of_an_unknown_family_or_a_newer_schema_is_refused_with_the_reason(tmp_path):
    onnx_path = anomaly_package(tmp_path)
    raw = json.loads(onnx_path.with_suffix(".json").read_text())
    onnx_path.with_suffix(".json").write_text(json.dumps({**raw, "family": "sift"}))
    with pytest.raises(ModelError, match="unknown model family 'sift'"):
        load_model_package(onnx_path)
    onnx_path.with_suffix(".json").write_text(json.dumps({**raw, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ModelError, match="newer than this Inspector reads"):
        load_model_package(onnx_path)
    onnx_path.with_suffix(".json").write_text(json.dumps({**raw, "score_normalisation": {"shift": 0, "scale": 0}}))
    with pytest.raises(ModelError, match="scale must be a positive number"):
        load_model_package(onnx_path)


def test_an_anomaly_model_outlines_the_spot_where_it_is_in_the_frame(tmp_path):
    detector = DefectDetector(DetectorConfig(model=str(anomaly_package(tmp_path, threshold=0.5)), providers=CPU, warmup_runs=0))
    inspection = detector.inspect(frame_with_spot(y=32, x=80, side=16))
    (spot,) = inspection.detections
    assert inspection.rejected and spot.cls == "anomaly" and spot.causes_reject
    # 128 px frame, 64 px input, 8 px blocks: one map cell is 16 x 16 frame pixels, the spot fills one
    assert spot.box == (80.0, 32.0, 96.0, 48.0) and spot.area_px == 256.0
    straddling = detector.inspect(frame_with_spot(y=40, x=80, side=16)).detections[0]
    assert straddling.box == (80.0, 32.0, 96.0, 64.0)  # half of each of two cells: both at 0.5, both in the region
    assert not detector.inspect(frame_with_spot(level=0)).rejected
    assert set(inspection.timings_ms) == {"preprocess", "inference", "postprocess"}
    detector.close()


def test_the_score_normalisation_of_the_package_sets_the_units_of_threshold_and_score(tmp_path):
    path = anomaly_package(tmp_path, threshold=2.0, shift=0.5, scale=0.25)  # raw 1.0 -> (1.0 - 0.5) / 0.25 = 2.0
    detector = DefectDetector(DetectorConfig(model=str(path), providers=CPU, warmup_runs=0))
    inspection = detector.inspect(frame_with_spot())
    assert inspection.defect_score == pytest.approx(2.0)
    assert inspection.rejected  # 2.0 reaches the threshold 2.0
    stricter = DefectDetector(DetectorConfig(model=str(path), providers=CPU, warmup_runs=0, class_thresholds={"anomaly": 2.5}))
    assert not stricter.inspect(frame_with_spot()).rejected  # a station threshold beyond 1 is fine for such scores
    detector.close()
    stricter.close()


def test_tiles_keep_a_small_spot_that_resizing_the_whole_frame_would_wash_out(tmp_path):
    frame = frame_with_spot(h=512, w=512, y=304, x=96, side=16, level=255)
    whole = DefectDetector(DetectorConfig(model=str(anomaly_package(tmp_path / "a", threshold=0.3)), providers=CPU, warmup_runs=0))
    tiled = DefectDetector(DetectorConfig(model=str(anomaly_package(tmp_path / "b", tiles=(4, 4), threshold=0.3)), providers=CPU, warmup_runs=0))
    assert not whole.inspect(frame).rejected  # the frame shrunk 8 times: the spot is 2 x 2 px of an 8 x 8 block
    inspection = tiled.inspect(frame)
    assert inspection.rejected  # 128 px tiles shrunk 2 times: the spot fills one block
    (spot,) = inspection.detections
    assert spot.box == (96.0, 304.0, 112.0, 320.0)  # where it is in the frame, after stitching the 16 tiles
    whole.close()
    tiled.close()


def test_tile_windows_cover_the_frame_with_the_overlap_asked_for():
    windows = tile_windows((480, 640), (2, 3), 0.25)
    assert len(windows) == 6
    covered = np.zeros((480, 640), bool)
    for y0, y1, x0, x1 in windows:
        covered[y0:y1, x0:x1] = True
        assert y1 - y0 == windows[0][1] - windows[0][0]  # equal tiles
    assert covered.all()
    (y0, y1, _, _), (y2, _, _, _) = windows[0], windows[3]
    assert (y1 - y2) == pytest.approx(0.25 * (y1 - y0), abs=2)
    assert tile_windows((100, 200), (1, 1), 0.5) == [(0, 100, 0, 200)]


def test_several_models_on_one_frame_reject_if_any_rejects_and_say_which(tmp_path):
    strict = anomaly_package(tmp_path / "strict", threshold=0.5)
    lenient = anomaly_package(tmp_path / "lenient", threshold=1.5)
    meta = json.loads(lenient.with_suffix(".json").read_text())
    lenient.with_suffix(".json").write_text(json.dumps({**meta, "name": "lenient"}))
    from inspector.config.schema import AdditionalModel

    config = DetectorConfig(model=str(lenient), providers=CPU, warmup_runs=0, additional_models=[AdditionalModel(model=str(strict))])
    detector = DefectDetector(config)
    inspection = detector.inspect(frame_with_spot())
    assert detector.model_version == "lenient@1+blocks@1"
    assert inspection.rejected and inspection.rejected_by == ["blocks@1"]
    assert {d.model for d in inspection.detections} == {"blocks@1"}
    assert "blocks@1: anomaly" in inspection.reason()
    detector.close()
    twice = dataclasses.replace(config, additional_models=[AdditionalModel(model=str(lenient))])
    with pytest.raises(Exception, match="the same model is configured twice"):
        DefectDetector(twice)

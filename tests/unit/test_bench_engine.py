"""The engine's hot path and keep-warm, and the dynamic-batch copy of the model (real ONNX Runtime sessions)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import onnx
import pytest
import yaml

from inspector.bench.batching import BATCH_DIM, check_batch_equivalence, make_dynamic_batch
from inspector.config import DEFAULT_CONFIG, config_from_dict, load_config
from inspector.engine.detector import DefectDetector
from inspector.engine.providers import KeepWarm
from inspector.engine.yolo_decode import decode_yolo
from inspector.errors import ConfigError
from inspector.synthetic import PartGenerator

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def detector_config():
    return dataclasses.replace(load_config(DEFAULT_CONFIG).detector, providers=CPU, intra_op_threads=1)


@pytest.fixture(scope="module")
def frames():
    generator = PartGenerator(seed=5, defect_rate=0.8)
    return [generator.part(i).image for i in range(4)]


def test_inspect_reuses_its_buffers_and_matches_a_plain_session_run(detector_config, frames):
    engine = DefectDetector(detector_config)
    runtime = engine.runtime
    output_buffers, input_buffer = runtime._bound_outputs, engine.family.input_tensor
    assert output_buffers is not None
    plain = type(runtime.session)(str(engine.package.onnx_path), providers=CPU)
    for frame in frames:
        ours = engine.inspect(frame)
        (raw,) = plain.run(None, {runtime.input_name: engine.model_inputs(frame)[0]})
        expected = decode_yolo(raw, detector_config.families.yolo.min_confidence, detector_config.families.yolo.iou_threshold)
        assert len(ours.detections) == len(expected)
        np.testing.assert_allclose(sorted(d.score for d in ours.detections), sorted(expected.scores), atol=1e-4)  # Detection rounds scores
        assert set(ours.timings_ms) == {"preprocess", "inference", "postprocess"}
    assert runtime._bound_outputs is output_buffers and engine.family.input_tensor is input_buffer
    engine.close()


def test_the_yolo_family_decodes_with_the_iou_and_min_confidence_its_station_section_sets(frames):
    # detector.families.yolo, as a station file sets it, reaches the real package's decoder: the detections are
    # exactly those decoded at the configured values, and not those of the defaults (0.05, 0.7)
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"]["families"] = {"yolo": {"min_confidence": 0.3, "iou_threshold": 0.1}}
    config = config_from_dict(data, base_dir=DEFAULT_CONFIG.parent).detector
    assert (config.families.yolo.min_confidence, config.families.yolo.iou_threshold) == (0.3, 0.1)
    engine = DefectDetector(dataclasses.replace(config, providers=CPU, intra_op_threads=1))
    plain = type(engine.runtime.session)(str(engine.package.onnx_path), providers=CPU)
    differs = False
    for frame in frames + [PartGenerator(seed=5, defect_rate=0.8).part(i).image for i in range(4, 6)]:
        ours = engine.inspect(frame)
        (raw,) = plain.run(None, {engine.runtime.input_name: engine.model_inputs(frame)[0]})
        expected = decode_yolo(raw, 0.3, 0.1)
        assert len(ours.detections) == len(expected)
        np.testing.assert_allclose(sorted(d.score for d in ours.detections), sorted(expected.scores), atol=1e-4)
        assert all(d.score >= 0.3 for d in ours.detections)
        differs |= len(decode_yolo(raw, 0.05, 0.7)) != len(expected)
    assert differs  # the frames tell the settings apart
    engine.close()


def test_keep_warm_runs_inferences_only_while_idle_and_stops_on_close(detector_config, frames):
    engine = DefectDetector(dataclasses.replace(detector_config, keep_warm_s=0.05))
    keep_warm = engine.runtime.keep_warm
    assert keep_warm is not None
    deadline = time.monotonic() + 30
    while keep_warm.runs < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert keep_warm.runs >= 2
    assert engine.inspect(frames[0]).timings_ms["inference"] > 0  # a part still goes through with keep-warm on
    thread = keep_warm._thread
    engine.close()
    assert not thread.is_alive() and engine.runtime.keep_warm is None


def test_keep_warm_is_off_by_default(detector_config):
    assert detector_config.keep_warm_s == 0
    engine = DefectDetector(detector_config)
    assert engine.runtime.keep_warm is None
    engine.close()


def test_keep_warm_waits_a_full_period_after_each_touch():
    calls = []
    keeper = KeepWarm(lambda: calls.append(time.monotonic()) or True, period_s=1.0)
    try:
        stop = threading.Event()

        def busy_line():
            while not stop.is_set():
                keeper.touch()
                time.sleep(0.01)

        worker = threading.Thread(target=busy_line)
        worker.start()
        time.sleep(1.5)
        stop.set()
        worker.join()
        assert calls == []  # parts every 10 ms: never idle for a period
    finally:
        keeper.stop()
    with pytest.raises(ValueError):
        KeepWarm(lambda: True, period_s=0)


def test_negative_keep_warm_is_rejected_naming_the_field(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"]["model"] = str((DEFAULT_CONFIG.parent / data["detector"]["model"]).resolve())
    data["detector"]["keep_warm_s"] = -1
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="detector.keep_warm_s"):
        load_config(path)


def test_dynamic_batch_copy_runs_any_batch_and_matches_the_static_model(detector_config, tmp_path):
    static = DefectDetector(detector_config).package.onnx_path
    dynamic = make_dynamic_batch(static, tmp_path / "dynamic.onnx")
    graph = onnx.load(str(dynamic)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == BATCH_DIM
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == BATCH_DIM
    assert check_batch_equivalence(static, dynamic, batch=3) <= 1e-3


def test_a_provider_that_cannot_run_here_is_reported_not_measured_on_the_cpu_instead(detector_config):
    from inspector.bench.engine import open_detector, providers_present
    from inspector.errors import InspectorError

    for provider in providers_present():
        try:
            engine = open_detector(detector_config, provider)
        except InspectorError as err:
            assert provider != "CPUExecutionProvider" and "cannot run here" in str(err)
            continue
        assert engine.providers[0] == provider
        engine.close()

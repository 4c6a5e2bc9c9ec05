"""Run configs of every family: the family chooses the settings, a bad key or value is named, the record is typed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from inspector.errors import ConfigError
from inspector.training.backends import backend_for, backend_names
from inspector.training.backends.anomaly import AnomalySettings, greedy_coreset
from inspector.training.backends.base import TrainingBackend
from inspector.training.onnx_storage import store_weights_fp16
from inspector.training.runs import run_config_from_dict, settings_table
from inspector.training.ultralytics_backend import YoloSettings

BASE = {"data": "dataset", "run_dir": "runs/x"}


def test_every_trainable_family_has_a_backend_honouring_the_interface():
    assert backend_names() == ["anomaly", "segmentation", "yolo"]
    for name in backend_names():
        backend = backend_for(name)
        assert isinstance(backend, TrainingBackend) and backend.family == name
        for method in ("train", "export", "device"):
            assert not getattr(getattr(type(backend), method), "__isabstractmethod__", False)
    with pytest.raises(ConfigError, match="no training backend for model family 'sift'"):
        run_config_from_dict({**BASE, "family": "sift"}, Path("."))


def test_the_family_chooses_the_settings_and_yolo_is_the_default(tmp_path):
    yolo = run_config_from_dict({**BASE, "imgsz": 416}, tmp_path)
    assert yolo.family == "yolo" and isinstance(yolo.settings, YoloSettings) and yolo.settings.imgsz == 416
    assert yolo.data == str((tmp_path / "dataset").resolve())
    anomaly = run_config_from_dict({**BASE, "family": "anomaly", "bank_size": 500, "taps": [4, 10]}, tmp_path)
    assert isinstance(anomaly.settings, AnomalySettings) and anomaly.settings.taps == (4, 10)
    assert anomaly.to_json()["bank_size"] == 500 and anomaly.to_json()["family"] == "anomaly"


@pytest.mark.parametrize(
    ("family", "setting", "field"),
    [
        ("anomaly", {"imgsz": 320}, "imgsz"),  # a YOLO key is no anomaly setting
        ("anomaly", {"input_size": [300, 320]}, "input_size"),
        ("anomaly", {"neighbourhood": 4}, "neighbourhood"),
        ("anomaly", {"backbone": "resnet50"}, "backbone"),
        ("anomaly", {"bank_size": 3}, "bank_size"),
        ("segmentation", {"epochs": 0}, "epochs"),
        ("segmentation", {"tiles": [0, 2]}, "tiles"),
        ("yolo", {"input_size": [320, 320]}, "input_size"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(family, setting, field):
    with pytest.raises(ConfigError) as info:
        run_config_from_dict({**BASE, "family": family, **setting}, Path("."))
    assert info.value.field == field


def test_the_explanation_of_a_family_lists_every_setting_with_its_default():
    rows = settings_table("anomaly")
    assert any(r.startswith(f"| `bank_size` | `{AnomalySettings().bank_size}` |") for r in rows)
    assert any(r.startswith("| `family` |") for r in rows) and any(r.startswith("| `data` | required |") for r in rows)


def test_the_greedy_coreset_keeps_the_far_patches_random_sampling_would_miss():
    import torch

    crowd = torch.randn(2000, 16) * 0.1  # most good patches look alike...
    rare = torch.randn(5, 16) * 0.1 + 5.0  # ...a few (a bolt hole, an edge) do not
    patches = torch.cat([crowd, rare])
    chosen = greedy_coreset(patches, 20, 8, torch.Generator().manual_seed(0))
    assert len(set(chosen.tolist())) == 20
    assert any(i >= 2000 for i in chosen.tolist())  # the rare kind is in the bank


def test_weights_stored_as_float16_give_the_same_outputs_from_a_file_half_the_size(tmp_path):
    weights = np.random.default_rng(0).normal(size=(256, 512)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(weights, "w")],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    x = np.random.default_rng(1).normal(size=(1, 256)).astype(np.float32)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    size = path.stat().st_size
    assert store_weights_fp16(path) == 1
    assert path.stat().st_size < 0.6 * size
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=0, atol=0.02 * np.abs(before).max())

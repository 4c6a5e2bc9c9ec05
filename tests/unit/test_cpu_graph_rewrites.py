"""The CPU graph rewrites compute what the exported graph computes, and touch nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.cpu_graph_rewrites import load_rewritten, rewrite_for_cpu
from inspector.engine.detector import DefectDetector
from inspector.errors import ModelError
from inspector.synthetic import PartGenerator

CPU = ["CPUExecutionProvider"]
ANCHORS = 6


def _run(model: onnx.ModelProto | bytes | str, x: np.ndarray) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    session = ort.InferenceSession(source, providers=CPU)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _model(nodes, inputs, outputs, initializers, opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def dfl_head(opset: int, bins: np.ndarray | None = None) -> onnx.ModelProto:
    """The YOLOv8 box head's distribution-to-distance step, as ultralytics exports it."""
    bins = np.arange(16, dtype=np.float32) if bins is None else bins
    return _model(
        [
            helper.make_node("Reshape", ["x", "shape4"], ["r"]),
            helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
            helper.make_node("Softmax", ["t"], ["s"], axis=1),
            helper.make_node("Conv", ["s", "bins"], ["c"], kernel_shape=[1, 1]),
            helper.make_node("Reshape", ["c", "shape3"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, ANCHORS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, ANCHORS])],
        {
            "shape4": np.array([1, 4, 16, ANCHORS], np.int64),
            "shape3": np.array([1, 4, ANCHORS], np.int64),
            "bins": bins.reshape(1, 16, 1, 1),
        },
        opset,
    )


def split_after_silu(opset: int, extra_reader: bool = False) -> onnx.ModelProto:
    """A C2f block's first step: 1x1 conv, SiLU, split into halves on the channel axis."""
    rng = np.random.default_rng(0)
    init = {"w": rng.normal(size=(8, 3, 1, 1)).astype(np.float32), "b": rng.normal(size=8).astype(np.float32)}
    if 13 <= opset < 18:
        init["sizes"] = np.array([4, 4], np.int64)
        split = helper.make_node("Split", ["a", "sizes"], ["p", "q"], axis=1)
    elif opset >= 18:
        split = helper.make_node("Split", ["a"], ["p", "q"], axis=1, num_outputs=2)
    else:
        split = helper.make_node("Split", ["a"], ["p", "q"], axis=1, split=[4, 4])
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["c"], ["sig"]),
        helper.make_node("Mul", ["c", "sig"], ["a"]),
        split,
        helper.make_node("Concat", ["p", "q"], ["y"], axis=1),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 5, 5])]
    if extra_reader:  # the conv's raw output is also a graph output: splitting the conv would lose it
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 8, 5, 5]))
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])], outputs, init, opset)


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_dfl_expectation_gives_the_softmax_and_conv_result(opset):
    model = dfl_head(opset, bins=np.linspace(-2, 5, 16, dtype=np.float32))  # any bin values, not only 0..15
    x = np.random.default_rng(opset).normal(scale=4, size=(1, 64, ANCHORS)).astype(np.float32)
    expected = _run(model, x)
    assert rewrite_for_cpu(model) == {"dfl_expectation": 1}
    assert "Softmax" not in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-5)


def test_softmax_before_opset_13_is_another_function_and_is_left_alone():
    model = dfl_head(12)
    before = model.SerializeToString()
    assert rewrite_for_cpu(model) == {}
    assert model.SerializeToString() == before


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_conv_gives_the_split_result(opset):
    model = split_after_silu(opset)
    x = np.random.default_rng(1).normal(size=(1, 3, 5, 5)).astype(np.float32)
    expected = _run(model, x)
    assert rewrite_for_cpu(model) == {"split_conv": 1}
    ops = [n.op_type for n in model.graph.node]
    assert "Split" not in ops and ops.count("Conv") == 2
    weights = {i.name for i in model.graph.initializer}
    assert len(weights) == 4 and not weights & {"w", "b", "sizes"}  # each part has its own; the whole conv's are dropped
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-6)


def test_two_unnamed_splits_get_weights_of_their_own():
    model = split_after_silu(13)
    block = list(model.graph.node)
    for node in block:  # a second, identical block after the first, reading its output; no node has a name
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = ["y" if i == "x" else (i if i in ("w", "b", "sizes") else f"{i}2") for i in node.input]
        copy.output[:] = [f"{o}2" for o in node.output]
        model.graph.node.append(copy)
    model.graph.initializer.append(numpy_helper.from_array(np.ones((8, 8, 1, 1), np.float32), "w8"))
    for node in model.graph.node[len(block):]:
        if node.op_type == "Conv":
            node.input[1] = "w8"
    model.graph.output[0].name = "y2"
    onnx.checker.check_model(model)
    x = np.random.default_rng(2).normal(size=(1, 3, 5, 5)).astype(np.float32)
    expected = _run(model, x)
    # the first block's Concat is read by the second block's 1x1 conv: that is rewritten too
    assert rewrite_for_cpu(model) == {"split_conv": 2, "concat_conv": 1}
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-5)


def concat_then_conv(kernel: int = 1, bias: bool = True, second_reader: bool = False) -> onnx.ModelProto:
    """Three tensors of 2, 3 and 4 channels concatenated, then a convolution to 5 channels."""
    rng = np.random.default_rng(3)
    init = {"w": rng.normal(size=(5, 9, kernel, kernel)).astype(np.float32)}
    conv_inputs = ["cat", "w"]
    if bias:
        init["b"] = rng.normal(size=5).astype(np.float32)
        conv_inputs.append("b")
    nodes = [
        helper.make_node("Concat", ["x1", "x2", "x3"], ["cat"], axis=1),
        helper.make_node("Conv", conv_inputs, ["y"], kernel_shape=[kernel, kernel], pads=[kernel // 2] * 4),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 4, 4])]
    if second_reader:
        nodes.append(helper.make_node("Relu", ["cat"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 9, 4, 4]))
    inputs = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [1, c, 4, 4]) for i, c in ((1, 2), (2, 3), (3, 4))]
    return _model(nodes, inputs, outputs, init, 17)


def _concat_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    return {f"x{i}": rng.normal(size=(1, c, 4, 4)).astype(np.float32) for i, c in ((1, 2), (2, 3), (3, 4))}


@pytest.mark.parametrize("bias", [True, False])
def test_concat_conv_sums_one_conv_per_input(bias):
    model = concat_then_conv(bias=bias)
    feeds = _concat_inputs()
    expected = ort.InferenceSession(model.SerializeToString(), providers=CPU).run(None, feeds)[0]
    assert rewrite_for_cpu(model) == {"concat_conv": 1}
    ops = [n.op_type for n in model.graph.node]
    assert "Concat" not in ops and ops.count("Conv") == 3 and ops.count("Add") == 2
    got = ort.InferenceSession(model.SerializeToString(), providers=CPU).run(None, feeds)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_an_upsampled_input_is_convolved_before_its_upsample_for_each_reading_conv():
    """The neck: Concat(Resize(nearest, x2)(low), skip) read by two 1x1 convs (a C2f's split first conv)."""
    rng = np.random.default_rng(5)
    init = {
        "scales": np.array([1, 1, 2, 2], np.float32),
        "w1": rng.normal(size=(3, 6, 1, 1)).astype(np.float32), "b1": rng.normal(size=3).astype(np.float32),
        "w2": rng.normal(size=(2, 6, 1, 1)).astype(np.float32), "b2": rng.normal(size=2).astype(np.float32),
    }
    nodes = [
        helper.make_node("Resize", ["low", "", "scales"], ["up"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Concat", ["up", "skip"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w1", "b1"], ["y1"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["cat", "w2", "b2"], ["y2"], kernel_shape=[1, 1]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("low", TensorProto.FLOAT, [1, 4, 3, 3]), helper.make_tensor_value_info("skip", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [1, 3, 6, 6]), helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 2, 6, 6])],
        init,
        17,
    )
    feeds = {"low": rng.normal(size=(1, 4, 3, 3)).astype(np.float32), "skip": rng.normal(size=(1, 2, 6, 6)).astype(np.float32)}
    expected = ort.InferenceSession(model.SerializeToString(), providers=CPU).run(None, feeds)
    assert rewrite_for_cpu(model) == {"concat_conv": 1}
    producers = {o: n for n in model.graph.node for o in n.output}
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 2 and all(producers[r.input[0]].op_type == "Conv" for r in resizes)  # conv first, on 3x3
    got = ort.InferenceSession(model.SerializeToString(), providers=CPU).run(None, feeds)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", [{"kernel": 3}, {"second_reader": True}], ids=["3x3 conv", "concat read by a non-conv"])
def test_concat_conv_leaves_other_patterns_alone(variant):
    model = concat_then_conv(**variant)
    before = model.SerializeToString()
    assert rewrite_for_cpu(model) == {}
    assert model.SerializeToString() == before


def test_a_conv_read_elsewhere_is_not_split():
    model = split_after_silu(13, extra_reader=True)
    before = model.SerializeToString()
    assert rewrite_for_cpu(model) == {}
    assert model.SerializeToString() == before


@pytest.fixture(scope="module")
def detector_config():
    return dataclasses.replace(load_config(DEFAULT_CONFIG).detector, providers=CPU)


def test_bundled_model_rewritten_finds_the_same_defects(detector_config):
    rewritten, applied = load_rewritten(detector_config.model)
    # the head's softmax, every C2f block's split, and every concatenation 1x1 convs read (C2f ends, SPPF, neck)
    assert applied == {"dfl_expectation": 1, "split_conv": 8, "concat_conv": 13}
    ops = [n.op_type for n in onnx.load_from_string(rewritten).graph.node]
    assert "Softmax" not in ops and "Split" not in ops
    on = DefectDetector(detector_config)
    off = DefectDetector(dataclasses.replace(detector_config, cpu_graph_rewrites=False))
    generator = PartGenerator(seed=11, defect_rate=0.8)
    found = 0
    for i in range(12):
        frame = generator.part(i).image
        raw_on = _run(rewritten, on.model_inputs(frame)[0])
        raw_off = _run(detector_config.model, off.model_inputs(frame)[0])
        np.testing.assert_allclose(raw_on, raw_off, atol=1e-2)  # box coordinates in pixels, scores in 0..1
        np.testing.assert_allclose(raw_on[:, 4:], raw_off[:, 4:], atol=1e-4)  # class scores
        a, b = on.inspect(frame), off.inspect(frame)
        assert [d.cls for d in a.detections] == [d.cls for d in b.detections]
        np.testing.assert_allclose([d.score for d in a.detections], [d.score for d in b.detections], atol=1e-3)
        found += len(a.detections)
    assert found > 0  # the frames had defects to find


def test_weights_read_only_inside_a_subgraph_are_kept():
    """An If whose branches read outer weights by name: nothing matches, and the graph still runs."""
    branch = lambda name: helper.make_graph(  # noqa: E731
        [helper.make_node("Identity", [name], [f"{name}_out"])], name, [],
        [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2])],
    )
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=branch("a"), else_branch=branch("b"))],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        {"a": np.array([1, 2], np.float32), "b": np.array([3, 4], np.float32)},
        17,
    )
    assert rewrite_for_cpu(model) == {}
    session = ort.InferenceSession(model.SerializeToString(), providers=CPU)
    assert session.run(None, {"cond": np.array(False)})[0].tolist() == [3, 4]


def test_an_unreadable_model_is_named(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="model.onnx"):
        load_rewritten(bad)

"""Rewrites of an exported detector graph that ONNX Runtime's CPU provider runs faster.

Same weights, same function: each rewrite replaces a pattern with operators
that compute the same values (to float rounding) but avoid a slow path of the
CPU kernels. They match exact patterns only; a graph without them (another
architecture, a quantized model) is left as it is.

- ``dfl_expectation``: the YOLOv8 box head takes a softmax over 16 bins on
  axis 1 of a transposed tensor, then a 1x1 convolution with the bin values.
  ONNX Runtime runs that softmax one 16-value row at a time (8 % of the
  inference of the 320 px bundled model). The same expectation is
  ``sum(exp(x - max) * bins) / sum(exp(x - max))`` with reductions over the
  bin axis, on the tensor before the transpose.
- ``split_conv``: a convolution (with SiLU) whose output is split on the
  channel axis becomes one convolution per part. ``Split`` has no blocked
  (NCHWc) kernel, so each one forced a reorder of its input and outputs.
- ``concat_conv``: a channel concatenation read only by 1x1 convolutions
  (the end of every C2f block, SPPF, the neck) becomes, for each of them, one
  1x1 convolution per input, summed. Same products, added in another order: outputs differ by
  float rounding (under 0.01 px in box coordinates on the bundled model). An
  input that is a nearest-neighbour upsample (the neck's) is convolved before
  it is upsampled, on a quarter of the pixels: a 1x1 convolution and a
  nearest upsample commute.

``inspector bench`` reports the bare ``session.run`` on the exported graph and
on the rewritten one; docs/benchmarking.md gives the figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from inspector.errors import ModelError


@dataclass
class _GraphIndex:
    """Who produces and who consumes each tensor, and the constant weights, of one model's graph."""

    model: object
    opset: int

    def __post_init__(self) -> None:
        self.graph = self.model.graph
        self._channels: dict[str, int] | None = None
        self.producer = {out: n for n in self.graph.node for out in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.graph.node:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.initializers = {i.name: i for i in self.graph.initializer}
        self.outputs = {o.name for o in self.graph.output}

    def constant(self, name: str) -> np.ndarray | None:
        init = self.initializers.get(name)
        return None if init is None else numpy_helper.to_array(init)

    def channels(self, tensor: str) -> int | None:
        """Axis 1 of ``tensor`` as ONNX shape inference finds it (None when it cannot)."""
        if self._channels is None:
            inferred = onnx.shape_inference.infer_shapes(self.model).graph
            self._channels = {}
            for info in [*inferred.value_info, *inferred.input, *inferred.output]:
                dims = info.type.tensor_type.shape.dim
                if len(dims) > 1 and dims[1].HasField("dim_value"):
                    self._channels[info.name] = dims[1].dim_value
        return self._channels.get(tensor)

    def only_consumer(self, tensor: str):
        """The single node reading ``tensor``, or None (several readers, or a graph output)."""
        readers = self.consumers.get(tensor, [])
        return readers[0] if len(readers) == 1 and tensor not in self.outputs else None

    def add_constant(self, name: str, value: np.ndarray) -> str:
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def replace(self, old: list, new: list) -> None:
        """Put ``new`` where the first of ``old`` was (their inputs exist by then), and drop ``old``.

        The shapes the exporter recorded for ``old``'s outputs go too: a rewrite may lay a tensor out differently.
        """
        at = min(list(self.graph.node).index(n) for n in old)
        for n in old:
            self.graph.node.remove(n)
        replaced = {out for n in old for out in n.output}
        for info in [v for v in self.graph.value_info if v.name in replaced]:
            self.graph.value_info.remove(info)
        for offset, n in enumerate(new):
            self.graph.node.insert(at + offset, n)


def _attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _reduce(op: str, x: str, out: str, axis: int, keepdims: int, g: _GraphIndex, name: str):
    """``op`` over one axis, in the form the graph's opset wants (axes became an input in 13 / 18)."""
    axes_as_input = g.opset >= (13 if op == "ReduceSum" else 18)
    if axes_as_input:
        axes = g.add_constant(f"{name}/axes", np.array([axis], np.int64))
        return helper.make_node(op, [x, axes], [out], keepdims=keepdims, name=name)
    return helper.make_node(op, [x], [out], axes=[axis], keepdims=keepdims, name=name)


def _dfl_expectation(g: _GraphIndex) -> bool:
    """Transpose(0,2,1,3) -> Softmax(axis 1) -> 1x1 Conv(bins, no bias) read only by Reshapes.

    Before opset 13 a Softmax flattened its input to 2-D at ``axis``: another function, left alone.
    """
    for softmax in [n for n in g.graph.node if n.op_type == "Softmax"]:
        transpose = g.producer.get(softmax.input[0])
        conv = g.only_consumer(softmax.output[0])
        if transpose is None or transpose.op_type != "Transpose" or list(_attr(transpose, "perm", [])) != [0, 2, 1, 3]:
            continue
        if g.opset < 13 or g.only_consumer(transpose.output[0]) is not softmax or _attr(softmax, "axis", -1) != 1:
            continue
        if conv is None or conv.op_type != "Conv" or len(conv.input) != 2 or _attr(conv, "group", 1) != 1:
            continue
        bins = g.constant(conv.input[1])
        readers = g.consumers.get(conv.output[0], [])
        if bins is None or bins.ndim != 4 or bins.shape[0] != 1 or bins.shape[2:] != (1, 1):
            continue
        if conv.output[0] in g.outputs or not readers or any(r.op_type != "Reshape" for r in readers):
            continue  # the result below is (1, 4, 1, A), not the conv's (1, 1, 4, A): only a Reshape may read it
        x, out, base = transpose.input[0], conv.output[0], f"{softmax.output[0]}/expectation"  # tensor names are unique
        bins_name = g.add_constant(f"{base}/bins", bins.reshape(1, 1, -1, 1).astype(np.float32))
        new = [
            _reduce("ReduceMax", x, f"{base}/max", 2, 1, g, f"{base}/ReduceMax"),
            helper.make_node("Sub", [x, f"{base}/max"], [f"{base}/shifted"], name=f"{base}/Sub"),
            helper.make_node("Exp", [f"{base}/shifted"], [f"{base}/exp"], name=f"{base}/Exp"),
            _reduce("ReduceSum", f"{base}/exp", f"{base}/den", 2, 1, g, f"{base}/ReduceSumWeights"),
            helper.make_node("Mul", [f"{base}/exp", bins_name], [f"{base}/weighted"], name=f"{base}/MulBins"),
            _reduce("ReduceSum", f"{base}/weighted", f"{base}/num", 2, 1, g, f"{base}/ReduceSumBins"),
            helper.make_node("Div", [f"{base}/num", f"{base}/den"], [out], name=f"{base}/Div"),
        ]
        g.replace([transpose, softmax, conv], new)
        return True
    return False


def _split_sizes(split, g: _GraphIndex, channels: int) -> list[int] | None:
    if len(split.input) > 1 and split.input[1]:
        sizes = g.constant(split.input[1])
        return None if sizes is None else [int(s) for s in sizes]
    if _attr(split, "split") is not None:
        return [int(s) for s in _attr(split, "split")]
    parts = _attr(split, "num_outputs", len(split.output))
    return [channels // parts] * parts if channels % parts == 0 else None


def _split_conv(g: _GraphIndex) -> bool:
    """Conv -> SiLU (Sigmoid, Mul) -> Split(axis 1): one Conv -> SiLU per part."""
    for split in [n for n in g.graph.node if n.op_type == "Split"]:
        mul = g.producer.get(split.input[0])
        if mul is None or mul.op_type != "Mul" or _attr(split, "axis", 0) != 1 or g.only_consumer(mul.output[0]) is not split:
            continue
        conv, sigmoid = g.producer.get(mul.input[0]), g.producer.get(mul.input[1])
        if conv is None or sigmoid is None or conv.op_type != "Conv" or sigmoid.op_type != "Sigmoid":
            continue
        if sigmoid.input[0] != conv.output[0] or len(g.consumers[conv.output[0]]) != 2 or conv.output[0] in g.outputs:
            continue
        if g.only_consumer(sigmoid.output[0]) is not mul or _attr(conv, "group", 1) != 1 or len(conv.input) != 3:
            continue
        weight, bias = g.constant(conv.input[1]), g.constant(conv.input[2])
        sizes = None if weight is None or bias is None else _split_sizes(split, g, weight.shape[0])
        if sizes is None or sum(sizes) != weight.shape[0]:
            continue
        new, start = [], 0
        for part, (size, out) in enumerate(zip(sizes, split.output)):
            base = f"{conv.output[0]}/part{part}"
            w = g.add_constant(f"{base}/weight", weight[start : start + size])
            b = g.add_constant(f"{base}/bias", bias[start : start + size])
            part_conv = helper.make_node("Conv", [conv.input[0], w, b], [f"{base}/y"], name=f"{base}/Conv")
            part_conv.attribute.extend(conv.attribute)
            new += [
                part_conv,
                helper.make_node("Sigmoid", [f"{base}/y"], [f"{base}/sigmoid"], name=f"{base}/Sigmoid"),
                helper.make_node("Mul", [f"{base}/y", f"{base}/sigmoid"], [out], name=f"{base}/Mul"),
            ]
            start += size
        g.replace([conv, sigmoid, mul, split], new)
        return True
    return False


def _pointwise_conv(g: _GraphIndex, node) -> bool:
    """A 1x1, stride-1, unpadded, ungrouped Conv with constant weights (and bias, if any)."""
    if node.op_type != "Conv" or _attr(node, "group", 1) != 1 or any(_attr(node, "pads", [0, 0, 0, 0])):
        return False
    if list(_attr(node, "strides", [1, 1])) != [1, 1] or list(_attr(node, "dilations", [1, 1])) != [1, 1]:
        return False
    weight = g.constant(node.input[1])
    has_bias = len(node.input) > 2 and bool(node.input[2])
    return weight is not None and weight.shape[2:] == (1, 1) and (not has_bias or g.constant(node.input[2]) is not None)


def _concat_conv(g: _GraphIndex) -> bool:
    """Concat(axis 1) read only by 1x1 Convs: each Conv becomes the sum of one 1x1 Conv per input.

    Each input's convolution adds into the running sum (ONNX Runtime fuses a Conv
    followed by Add on the CPU), so the concatenated tensor is never written.
    """
    for concat in [n for n in g.graph.node if n.op_type == "Concat"]:
        readers = g.consumers.get(concat.output[0], [])
        if _attr(concat, "axis") != 1 or len(concat.input) < 2 or concat.output[0] in g.outputs or not readers:
            continue
        if not all(_pointwise_conv(g, r) for r in readers):
            continue
        widths = [g.channels(x) for x in concat.input]
        if None in widths or any(sum(widths) != g.constant(r.input[1]).shape[1] for r in readers):
            continue
        upsamples = [_nearest_upsample_read_only_by(g, x, concat) for x in concat.input]
        new = [node for conv in readers for node in _summed_convs(g, conv, concat.input, widths, upsamples)]
        g.replace([*(u for u in upsamples if u is not None), concat, *readers], new)
        return True
    return False


def _summed_convs(g: _GraphIndex, conv, pieces: list[str], widths: list[int], upsamples: list) -> list:
    """``conv`` of the concatenation of ``pieces``, as a sum of one 1x1 Conv per piece (bias on the first).

    A piece made by a nearest upsample is convolved before it, on a quarter of
    the pixels, and upsampled after: a 1x1 conv and a nearest upsample commute.
    """
    weight = g.constant(conv.input[1])
    bias = g.constant(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
    new, start, total = [], 0, None
    for part, (x, width, upsample) in enumerate(zip(pieces, widths, upsamples)):
        base = f"{conv.output[0]}/input{part}"
        source, y = (upsample.input[0], f"{base}/low") if upsample else (x, f"{base}/y")
        inputs = [source, g.add_constant(f"{base}/weight", weight[:, start : start + width].copy())]
        if part == 0 and bias is not None:
            inputs.append(g.add_constant(f"{base}/bias", bias))
        part_conv = helper.make_node("Conv", inputs, [y], name=f"{base}/Conv")
        part_conv.attribute.extend(conv.attribute)
        new.append(part_conv)
        if upsample:
            moved = helper.make_node("Resize", [y, *upsample.input[1:]], [f"{base}/y"], name=f"{base}/Resize")
            moved.attribute.extend(upsample.attribute)
            new.append(moved)
        if total is not None:
            out = conv.output[0] if part == len(pieces) - 1 else f"{base}/sum"
            new.append(helper.make_node("Add", [total, f"{base}/y"], [out], name=f"{base}/Add"))
            total = out
        else:
            total = f"{base}/y"
        start += width
    return new


def _nearest_upsample_read_only_by(g: _GraphIndex, tensor: str, reader):
    """The Resize making ``tensor`` when it is a nearest-neighbour spatial upsample read only by ``reader``."""
    resize = g.producer.get(tensor)
    if resize is None or resize.op_type != "Resize" or g.only_consumer(tensor) is not reader:
        return None
    if _attr(resize, "mode", b"nearest") not in (b"nearest", "nearest") or len(resize.input) != 3:
        return None  # not nearest, or sized by an absolute shape (which names the channel count)
    scales = g.constant(resize.input[2])
    return resize if scales is not None and scales.shape == (4,) and scales[0] == 1 and scales[1] == 1 else None


REWRITES = {"dfl_expectation": _dfl_expectation, "split_conv": _split_conv, "concat_conv": _concat_conv}


def rewrite_for_cpu(model) -> dict[str, int]:
    """Apply every rewrite to ``model`` (an ``onnx.ModelProto``, changed in place); how often each matched.

    A rewrite replaces the nodes it matched, so it cannot match them again: each loop ends.
    """
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    applied: Counter[str] = Counter()
    for name, rewrite in REWRITES.items():
        while rewrite(_GraphIndex(model, opset)):  # one match at a time, on a fresh index of the graph
            applied[name] += 1
    _prune_initializers(model.graph)
    return dict(applied)


def _prune_initializers(graph) -> None:
    """Drop weights no node reads any more (the replaced convolutions').

    Not in a graph with subgraphs (If, Loop, Scan): those read outer weights by name, unlisted in any node's inputs.
    """
    subgraph_kinds = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    if any(a.type in subgraph_kinds for n in graph.node for a in n.attribute):
        return
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def load_rewritten(model_path: str | Path) -> tuple[bytes, dict[str, int]]:
    """The model at ``model_path`` with the CPU rewrites applied, serialized; and how often each matched."""
    try:
        model = onnx.load(str(model_path))
    except Exception as err:  # protobuf's DecodeError and friends
        raise ModelError(f"cannot read the ONNX model {model_path}: {err}") from err
    applied = rewrite_for_cpu(model)
    return model.SerializeToString(), applied

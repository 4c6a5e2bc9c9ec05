"""A dynamic-batch copy of a static-batch YOLOv8 ONNX export.

ultralytics exports with a fixed batch of 1 unless asked otherwise, and the
detection head's Reshape nodes carry that 1 as a constant (``[1, 64, -1]``,
``[1, 4, 16, 2100]``). The copy makes the batch dimension of the graph's
input and output symbolic and rewrites those constants so the batch is taken
from the input instead: a leading 1 becomes 0 ("copy this dimension") when
the shape has another -1, otherwise -1. Every other node of a YOLOv8 graph is
batch-agnostic; the result is checked against the original, image by image.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from inspector.errors import ModelError

log = logging.getLogger(__name__)

BATCH_DIM = "batch"


def make_dynamic_batch(src: Path, dst: Path) -> Path:
    """Write a copy of ``src`` whose batch dimension is free; raise :class:`ModelError` when the graph resists."""
    model = onnx.load(str(src))
    graph = model.graph
    for value in [*graph.input, *graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = BATCH_DIM
    consts = {init.name: init for init in graph.initializer}
    const_nodes = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    rewritten = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        shape_name = node.input[1]
        if shape_name in consts:
            tensor = consts[shape_name]
            shape = numpy_helper.to_array(tensor)
        elif shape_name in const_nodes:
            tensor = const_nodes[shape_name].attribute[0].t
            shape = numpy_helper.to_array(tensor)
        else:
            continue  # computed at run time from the input's shape: already batch-agnostic
        if shape.ndim != 1 or len(shape) < 2 or shape[0] != 1:
            continue
        new = shape.copy()
        new[0] = 0 if (shape[1:] == -1).any() else -1
        tensor.CopyFrom(numpy_helper.from_array(new.astype(shape.dtype), tensor.name))
        rewritten += 1
    # stale value_info would pin the batch to 1 again in shape inference
    del graph.value_info[:]
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ModelError(f"the dynamic-batch copy of {src} is not a valid model: {err}") from err
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    log.info("dynamic-batch copy of %s: %d Reshape constant(s) rewritten -> %s", src.name, rewritten, dst)
    return dst


def check_batch_equivalence(static_path: Path, dynamic_path: Path, batch: int = 3, atol: float = 1e-3) -> float:
    """Largest difference between the dynamic model on a batch and the static one image by image.

    Raises :class:`ModelError` when the outputs disagree by more than ``atol``
    (the copy would not be the same detector).
    """
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    static = ort.InferenceSession(str(static_path), providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(str(dynamic_path), providers=["CPUExecutionProvider"])
    shape = static.get_inputs()[0].shape
    images = rng.random((batch, *shape[1:]), dtype=np.float32)
    name = static.get_inputs()[0].name
    try:
        (batched,) = dynamic.run(None, {dynamic.get_inputs()[0].name: images})
    except Exception as err:  # onnxruntime raises its own untyped exceptions
        raise ModelError(f"the dynamic-batch copy of {static_path} cannot run a batch of {batch}: {err}") from err
    worst = 0.0
    for i in range(batch):
        (single,) = static.run(None, {name: images[i : i + 1]})
        if batched[i : i + 1].shape != single.shape:
            raise ModelError(f"dynamic-batch output {batched.shape} does not stack the static output {single.shape}")
        worst = max(worst, float(np.abs(batched[i : i + 1] - single).max()))
    if worst > atol:
        raise ModelError(f"the dynamic-batch copy differs from the original by {worst:.2g} (allowed {atol})")
    return worst

"""The model runtime, the same for every model family: an ONNX Runtime session and what keeps it fast.

- the session on the best execution provider present (see
  :mod:`~inspector.engine.providers`), with the CPU graph rewrites when it
  runs on the CPU;
- an I/O binding made once: the family's pre-processing writes into one input
  tensor, the session writes its outputs into arrays reused for every frame
  (static output shapes only);
- keep-warm: with ``keep_warm_s`` set, a daemon thread runs a blank inference
  whenever the line has been idle that long;
- one lock, so a keep-warm run never overlaps a frame's.

The family (:mod:`~inspector.engine.families`) knows what the tensors mean;
the runtime does not.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import onnxruntime as ort

from inspector.config.schema import DetectorConfig
from inspector.engine.providers import KeepWarm, create_session

log = logging.getLogger(__name__)


class ModelRuntime:
    """One ONNX model in one session; :meth:`run` runs it on the bound input tensor."""

    def __init__(self, onnx_path: str, config: DetectorConfig) -> None:
        self.config = config
        self.session = create_session(
            onnx_path, config.providers, config.intra_op_threads, config.intra_op_spinning, config.cpu_graph_rewrites
        )
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_shape = list(model_input.shape)
        self.outputs = self.session.get_outputs()
        self.output_names = [o.name for o in self.outputs]
        self.providers = self.session.get_providers()
        self._lock = threading.Lock()
        self._bound_input: np.ndarray | None = None
        self._bound_outputs: list[np.ndarray] | None = None
        self._binding: ort.IOBinding | None = None
        self.keep_warm: KeepWarm | None = None

    @property
    def output_shapes(self) -> list[list]:
        return [list(o.shape) for o in self.outputs]

    def bind(self, input_tensor: np.ndarray) -> None:
        """Run on ``input_tensor`` (which pre-processing refills each frame) without copying, when shapes are static."""
        if not all(all(isinstance(d, int) for d in shape) for shape in self.output_shapes):
            return
        self._bound_outputs = [np.empty(shape, np.float32) for shape in self.output_shapes]
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, input_tensor)
        for name, array in zip(self.output_names, self._bound_outputs):
            binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(array))
        self._binding, self._bound_input = binding, input_tensor
        if self.config.keep_warm_s > 0:
            self._blank = np.zeros_like(input_tensor)
            self.keep_warm = KeepWarm(self._warm_once, self.config.keep_warm_s)

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for ``tensor``; the bound arrays (overwritten by the next run) when it is the bound input."""
        with self._lock:
            if self._binding is not None and tensor is self._bound_input:
                self.session.run_with_iobinding(self._binding)
                outputs = self._bound_outputs
            else:
                outputs = self.session.run(self.output_names, {self.input_name: tensor})
        if self.keep_warm is not None:
            self.keep_warm.touch()
        return outputs

    def _warm_once(self) -> bool:
        """One blank inference, unless a frame is being inspected right now."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.session.run(self.output_names, {self.input_name: self._blank})
        finally:
            self._lock.release()
        return True

    def close(self) -> None:
        """Stop the keep-warm thread (the session itself is freed with the runtime)."""
        if self.keep_warm is not None:
            self.keep_warm.stop()
            self.keep_warm = None

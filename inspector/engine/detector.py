"""The defect detector: model package + ONNX Runtime session + decision rules.

The hot path allocates nothing per frame that it can avoid: the letterbox
writes into one input tensor, and the session reads that tensor and writes
its output into one reused array through an I/O binding made once. With
``keep_warm_s`` set, a daemon thread runs a blank inference whenever the line
has been idle that long (see :class:`~inspector.engine.providers.KeepWarm`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from inspector.config.schema import DetectorConfig
from inspector.engine.decision_rules import DecisionRules
from inspector.engine.letterbox import Letterbox
from inspector.engine.model_package import ModelPackage, load_model_package
from inspector.engine.providers import KeepWarm, create_session
from inspector.engine.yolo_decode import decode_yolo
from inspector.errors import ModelError
from inspector.messages import Detection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspection:
    """What the engine found in one frame, and how long each stage took (ms)."""

    detections: list[Detection]
    timings_ms: dict[str, float]

    @property
    def rejected(self) -> bool:
        return any(d.causes_reject for d in self.detections)

    @property
    def defect_score(self) -> float:
        """The part's defect score: its highest detection score (0 when none)."""
        return max((d.score for d in self.detections), default=0.0)


class DefectDetector:
    """Runs one frame at a time through pre-processing, inference and decoding."""

    def __init__(self, config: DetectorConfig, package: ModelPackage | None = None) -> None:
        self.config = config
        self.package = package or load_model_package(config.model)
        meta = self.package.metadata
        self.session = create_session(
            str(self.package.onnx_path), config.providers, config.intra_op_threads, config.intra_op_spinning,
            config.cpu_graph_rewrites,
        )
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self._check_shapes(model_input.shape, self.session.get_outputs()[0].shape)
        self.letterbox = Letterbox(tuple(meta.input_size))
        self.rules = DecisionRules.build(
            meta.classes, config.class_thresholds, meta.class_thresholds, config.min_confidence, config.min_area_px,
            config.min_area_mm2,
        )
        self.providers = self.session.get_providers()
        masked = [c for c, t in zip(self.rules.classes, self.rules.thresholds) if t < config.min_confidence]
        if masked:
            log.warning(
                "detector.min_confidence %.3f is above the reject threshold of %s: those classes reject only from %.3f",
                config.min_confidence, ", ".join(masked), config.min_confidence,
            )
        self.output_name = self.session.get_outputs()[0].name
        self._run_lock = threading.Lock()  # the keep-warm thread never runs while a frame is inspected
        self._output, self._binding = self._bind_buffers(self.session.get_outputs()[0].shape)
        self.keep_warm: KeepWarm | None = None
        if config.keep_warm_s > 0:
            self._blank = np.full_like(self.letterbox.tensor, 114 / 255)
            self.keep_warm = KeepWarm(self._warm_once, config.keep_warm_s)

    def _bind_buffers(self, output_shape: list) -> tuple[np.ndarray | None, ort.IOBinding | None]:
        """Bind the letterbox tensor as input and one reused array as output (static output shapes only)."""
        if not all(isinstance(d, int) for d in output_shape):
            return None, None
        output = np.empty(output_shape, np.float32)
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, self.letterbox.tensor)
        binding.bind_ortvalue_output(self.output_name, ort.OrtValue.ortvalue_from_numpy(output))
        return output, binding

    def _warm_once(self) -> bool:
        """One blank inference, unless a frame is being inspected right now."""
        if not self._run_lock.acquire(blocking=False):
            return False
        try:
            self.session.run([self.output_name], {self.input_name: self._blank})
        finally:
            self._run_lock.release()
        return True

    def close(self) -> None:
        """Stop the keep-warm thread (the session itself is freed with the detector)."""
        if self.keep_warm is not None:
            self.keep_warm.stop()
            self.keep_warm = None

    @property
    def model_version(self) -> str:
        return self.package.metadata.label

    def _check_shapes(self, input_shape: list, output_shape: list) -> None:
        meta = self.package.metadata
        if list(input_shape[2:]) != list(meta.input_size):
            raise ModelError(f"model input is {input_shape[2:]}, its metadata says {list(meta.input_size)}")
        if isinstance(output_shape[1], int) and output_shape[1] != 4 + len(meta.classes):
            raise ModelError(
                f"model output has {output_shape[1] - 4} class scores, its metadata lists {len(meta.classes)} classes"
            )

    def warm_up(self, frame_shape: tuple[int, ...] = (480, 640)) -> None:
        """Run a few inferences so the first part does not pay for lazy initialisation."""
        blank = np.zeros(frame_shape, np.uint8)
        for _ in range(self.config.warmup_runs):
            self.inspect(blank)

    def inspect(self, frame: np.ndarray, mm_per_px: float | None = None) -> Inspection:
        """Detect defects in one mono8/mono16/BGR8 frame.

        ``mm_per_px`` is the scale of the camera that took it (from its calibration):
        detections then carry their area in mm² and the per-class mm² minimum applies.
        """
        t0 = time.perf_counter()
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        with self._run_lock:
            tensor = self.letterbox(frame)
            t1 = time.perf_counter()
            if self._binding is not None and tensor is self.letterbox.tensor:
                self.session.run_with_iobinding(self._binding)
                output = self._output
            else:
                (output,) = self.session.run([self.output_name], {self.input_name: tensor})
            t2 = time.perf_counter()
            raw = decode_yolo(output, self.config.min_confidence, self.config.iou_threshold)
        if self.keep_warm is not None:
            self.keep_warm.touch()
        boxes = self.letterbox.geometry.to_frame(raw.boxes)
        detections = self.rules.detections(boxes, raw.scores, raw.class_ids, mm_per_px)
        t3 = time.perf_counter()
        timings = {
            "preprocess": (t1 - t0) * 1000,
            "inference": (t2 - t1) * 1000,
            "postprocess": (t3 - t2) * 1000,
        }
        return Inspection(detections, timings)

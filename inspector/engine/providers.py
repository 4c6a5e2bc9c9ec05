"""Choosing ONNX Runtime execution providers.

Each provider is a plugin: a name, whether it uses an accelerator, and the
options it is created with. The configured order is filtered by what this
ONNX Runtime build offers; when no accelerator is left the engine runs on the
CPU and says so in a warning, and after the session is made the providers it
really uses are checked (a CUDA build on a machine without a GPU falls back
silently otherwise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort

from inspector.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionProvider:
    name: str
    accelerated: bool
    options: dict[str, Any] = field(default_factory=dict)


KNOWN_PROVIDERS: dict[str, ExecutionProvider] = {
    p.name: p
    for p in (
        ExecutionProvider(
            "TensorrtExecutionProvider",
            True,
            {"trt_fp16_enable": True, "trt_engine_cache_enable": True},
        ),
        ExecutionProvider("CUDAExecutionProvider", True, {"cudnn_conv_algo_search": "HEURISTIC"}),
        ExecutionProvider("OpenVINOExecutionProvider", True),
        ExecutionProvider("DmlExecutionProvider", True),
        ExecutionProvider("CoreMLExecutionProvider", True),
        ExecutionProvider("CPUExecutionProvider", False),
    )
}


def select_providers(preferred: list[str], available: list[str] | None = None) -> list[ExecutionProvider]:
    """The preferred providers this ONNX Runtime offers, in order; CPU always last."""
    available = ort.get_available_providers() if available is None else available
    unknown = [name for name in preferred if name not in KNOWN_PROVIDERS]
    if unknown:
        raise ModelError(f"unknown execution provider(s) {unknown}; known: {sorted(KNOWN_PROVIDERS)}")
    chosen = [KNOWN_PROVIDERS[name] for name in preferred if name in available]
    skipped = [name for name in preferred if name not in available]
    if skipped:
        log.info("execution providers not in this ONNX Runtime build: %s", ", ".join(skipped))
    if not any(p.name == "CPUExecutionProvider" for p in chosen):
        chosen.append(KNOWN_PROVIDERS["CPUExecutionProvider"])
    return chosen


def create_session(
    model_path: str, preferred: list[str], intra_op_threads: int = 0
) -> ort.InferenceSession:
    """An inference session on the best available provider, warning on CPU fallback."""
    providers = select_providers(preferred)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    try:
        session = ort.InferenceSession(
            model_path,
            sess_options=options,
            providers=[(p.name, p.options) for p in providers],
        )
    except Exception as err:  # onnxruntime raises its own untyped exceptions
        raise ModelError(f"ONNX Runtime cannot load {model_path}: {err}") from err
    used = session.get_providers()
    wanted_accelerator = any(KNOWN_PROVIDERS[n].accelerated for n in preferred)
    if wanted_accelerator and not any(KNOWN_PROVIDERS.get(n, KNOWN_PROVIDERS["CPUExecutionProvider"]).accelerated for n in used):
        log.warning(
            "no GPU/NPU execution provider could be used (configured: %s); running on the CPU",
            ", ".join(preferred),
        )
    log.info("detector session providers: %s", ", ".join(used))
    return session

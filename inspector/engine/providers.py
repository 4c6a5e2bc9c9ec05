"""Choosing ONNX Runtime execution providers.

Each provider is a plugin: a name, whether it uses an accelerator, and the
options it is created with. The configured order is filtered by what this
ONNX Runtime build offers and by whether each accelerator's library can be
loaded here (its CUDA, cuDNN or TensorRT libraries present): one that cannot
is skipped before ONNX Runtime tries it, so a machine without a GPU gets one
warning line naming what is missing instead of ONNX Runtime's screenful of
errors. When no accelerator is left the engine runs on the CPU and says so;
after the session is made the providers it really uses are checked (a CUDA
build on a machine without a GPU falls back silently otherwise).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import onnxruntime as ort

from inspector.engine.cpu_graph_rewrites import load_rewritten
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
        # engine and timing caches: the TensorRT build (minutes) happens once per model and GPU, not per start
        ExecutionProvider(
            "TensorrtExecutionProvider",
            True,
            {"trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_timing_cache_enable": True},
        ),
        # the detector's input shape never changes: pick the fastest convolution once (EXHAUSTIVE, at warm-up),
        # copy on the default stream, grow the arena only by what is asked
        ExecutionProvider(
            "CUDAExecutionProvider",
            True,
            {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": True, "arena_extend_strategy": "kSameAsRequested"},
        ),
        ExecutionProvider("OpenVINOExecutionProvider", True),
        ExecutionProvider("DmlExecutionProvider", True),
        ExecutionProvider("CoreMLExecutionProvider", True),
        ExecutionProvider("CPUExecutionProvider", False),
    )
}


PROVIDER_LIBRARIES = {  # the shared library ONNX Runtime loads for a provider, beside its own (onnxruntime/capi)
    "TensorrtExecutionProvider": "libonnxruntime_providers_tensorrt.so",
    "CUDAExecutionProvider": "libonnxruntime_providers_cuda.so",
    "OpenVINOExecutionProvider": "libonnxruntime_providers_openvino.so",
}
_library_problems: dict[str, str] = {}


def library_problem(name: str) -> str:
    """Why the provider's library cannot be loaded in this process ('' if it can, or if it has none to check)."""
    library = PROVIDER_LIBRARIES.get(name)
    if library is None:
        return ""
    if name not in _library_problems:
        import ctypes

        path = Path(ort.__file__).parent / "capi" / library
        try:
            if path.exists():  # a build without the file has no such provider: get_available_providers says so
                ctypes.CDLL(str(path))  # fails, quietly, naming the first missing dependency
            _library_problems[name] = ""
        except OSError as err:
            _library_problems[name] = str(err).split(": cannot open", 1)[0] + " missing" if "cannot open" in str(err) else str(err)
    return _library_problems[name]


def unloadable_providers(preferred: list[str], available: list[str] | None = None) -> dict[str, str]:
    """The preferred providers in this build whose libraries cannot be loaded here, with why."""
    available = ort.get_available_providers() if available is None else available
    return {name: library_problem(name) for name in preferred if name in available and library_problem(name)}


def _reasons(problems: dict[str, str]) -> str:
    return "; ".join(f"{name}: {problem}" for name, problem in problems.items())


def select_providers(preferred: list[str], available: list[str] | None = None) -> list[ExecutionProvider]:
    """The preferred providers this ONNX Runtime offers and this machine can load, in order; CPU always last."""
    available = ort.get_available_providers() if available is None else available
    unknown = [name for name in preferred if name not in KNOWN_PROVIDERS]
    if unknown:
        raise ModelError(f"unknown execution provider(s) {unknown}; known: {sorted(KNOWN_PROVIDERS)}")
    skipped = [name for name in preferred if name not in available]
    if skipped:
        log.info("execution providers not in this ONNX Runtime build: %s", ", ".join(skipped))
    unloadable = unloadable_providers(preferred, available)
    if unloadable:
        log.info("skipping providers whose libraries cannot be loaded: %s", _reasons(unloadable))
    chosen = [KNOWN_PROVIDERS[name] for name in preferred if name in available and name not in unloadable]
    if not any(p.name == "CPUExecutionProvider" for p in chosen):
        chosen.append(KNOWN_PROVIDERS["CPUExecutionProvider"])
    return chosen


def tensorrt_cache_dir() -> Path:
    """Where TensorRT engines and timing caches go (never the working directory)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inspector" / "tensorrt"


def provider_options(provider: ExecutionProvider) -> dict[str, Any]:
    """The options a session is created with for ``provider`` (paths filled in at session creation)."""
    options = dict(provider.options)
    if provider.name == "TensorrtExecutionProvider":
        cache = tensorrt_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        options.setdefault("trt_engine_cache_path", str(cache))
        options.setdefault("trt_timing_cache_path", str(cache))
    return options


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def create_session(
    model_path: str,
    preferred: list[str],
    intra_op_threads: int | None = None,
    spinning: bool = True,
    cpu_graph_rewrites: bool = False,
) -> ort.InferenceSession:
    """An inference session on the best available provider, warning on CPU fallback.

    ``intra_op_threads``: None leaves ONNX Runtime's default (a thread per
    physical core, pinned to it); 0 is one thread per usable core, unpinned;
    otherwise that many. ``spinning`` False makes idle pool threads sleep at
    once instead of spinning for the next inference. ``cpu_graph_rewrites``:
    when the session runs on the CPU (chosen, or fallen back to from a GPU
    provider that is in the build but finds no GPU), it is made again on the
    graph with :mod:`~inspector.engine.cpu_graph_rewrites` applied.
    """
    providers = select_providers(preferred)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one frame at a time: no inter-op pool to wake
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads or usable_cores()
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

    def open_session(model: str | bytes, chosen: list[ExecutionProvider]) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(model, sess_options=options, providers=[(p.name, provider_options(p)) for p in chosen])
        except Exception as err:  # onnxruntime raises its own untyped exceptions
            raise ModelError(f"ONNX Runtime cannot load {model_path}: {err}") from err

    cpu_only = all(p.name == "CPUExecutionProvider" for p in providers)
    rewritten, applied = load_rewritten(model_path) if cpu_graph_rewrites and cpu_only else (None, {})
    # only the CPU can run it: one session, on the rewritten graph (half the load time, which a hot swap pays on a running line)
    session = open_session(rewritten if applied else model_path, providers)
    used = session.get_providers()
    wanted_accelerator = any(KNOWN_PROVIDERS[n].accelerated for n in preferred)
    if wanted_accelerator and not any(KNOWN_PROVIDERS.get(n, KNOWN_PROVIDERS["CPUExecutionProvider"]).accelerated for n in used):
        why = _reasons(unloadable_providers(preferred)) or "none of them found a device"
        log.warning("running on the CPU: no GPU/NPU execution provider of %s could be used (%s)", ", ".join(preferred), why)
    if cpu_graph_rewrites and used[0] == "CPUExecutionProvider":
        if not cpu_only:  # an accelerator's provider loaded but found no device: the CPU runs it after all
            rewritten, applied = load_rewritten(model_path)
            if applied:
                session = open_session(rewritten, [KNOWN_PROVIDERS["CPUExecutionProvider"]])
        log.info("graph rewrites for the CPU provider: %s", ", ".join(f"{k} x{n}" for k, n in applied.items()) or "none matched")
    log.info("detector session providers: %s", ", ".join(used))
    return session


class KeepWarm:
    """Runs ``warm`` (one small inference) whenever ``period_s`` passed without an inference.

    GPU and NPU runtimes drop clocks and release resources when idle; the first
    part after a gap then pays a wake-up penalty. The owner calls :meth:`touch`
    after each real inference; the daemon thread fills only the idle gaps.
    """

    def __init__(self, warm: Callable[[], bool], period_s: float, name: str = "detector-keep-warm") -> None:
        if period_s <= 0:
            raise ValueError(f"keep-warm period must be positive, got {period_s}")
        self.period_s = period_s
        self.runs = 0
        self._warm = warm
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def touch(self) -> None:
        """An inference just ran: the next keep-warm run is due one period from now."""
        self._last = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.wait(max(self._last + self.period_s - time.monotonic(), 0.005)):
            if time.monotonic() - self._last < self.period_s:
                continue
            try:
                ran = self._warm()
            except Exception:  # onnxruntime raises its own untyped exceptions; a real part will hit it too
                log.exception("keep-warm inference failed; keep-warm stops")
                return
            self.runs += int(ran)
            self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

"""The detector engine on each execution provider present: stages, batches, threads, idle gap.

Every figure is taken on the station's own frames (see :mod:`inspector.bench.frames`)
after a warm-up. Where two things are compared (Inspector's stages against a
bare ``session.run``), they run in alternating blocks so that drift in the
machine's load affects both alike.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from inspector.bench.batching import check_batch_equivalence, make_dynamic_batch
from inspector.bench.stats import percentiles
from inspector.config.schema import DetectorConfig
from inspector.engine.cpu_graph_rewrites import load_rewritten
from inspector.engine.detector import DefectDetector
from inspector.engine.providers import create_session
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

BENCH_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)
BLOCK = 10  # frames per alternating block


@dataclass(frozen=True)
class EngineSettings:
    frames: int = 300  # measured inspections per provider (and as many bare session.run calls)
    warmup: int = 20
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    batch_runs: int = 20
    thread_counts: tuple[int, ...] = (1, 2, 4)  # 0 = one per usable core; ONNX Runtime's default is always added
    thread_frames: int = 100
    idle_gap_s: float = 2.0
    idle_trials: int = 5
    keep_warm_s: float = 0.5


def providers_present(wanted: tuple[str, ...] = BENCH_PROVIDERS) -> list[str]:
    """Providers of ``wanted`` that this ONNX Runtime build offers (a GPU may still be missing)."""
    available = ort.get_available_providers()
    return [p for p in wanted if p in available]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def open_detector(detector: DetectorConfig, provider: str, **overrides: Any) -> DefectDetector:
    """A detector on ``provider`` alone; :class:`InspectorError` when the provider cannot run here."""
    config = dataclasses.replace(detector, providers=[provider], warmup_runs=0, **overrides)
    engine = DefectDetector(config)
    if engine.providers[0] != provider:
        engine.close()
        raise InspectorError(f"{provider} is in this ONNX Runtime build but cannot run here (fell back to {engine.providers[0]})")
    return engine


def bare_sessions(engine: DefectDetector) -> tuple[dict[str, ort.InferenceSession], dict[str, int]]:
    """Plain sessions with ONNX Runtime's defaults on the engine's provider, and the rewrites applied.

    ``bare_session_run`` loads the model file as exported: what a prototype
    calling ONNX Runtime directly gets. On the CPU, with
    ``detector.cpu_graph_rewrites`` on, ``bare_session_run_rewritten`` loads
    the graph the detector runs, so the report separates what the rewrites
    save from what Inspector adds around the runtime.
    """
    provider, path = engine.providers[0], str(engine.package.onnx_path)
    sessions = {"bare_session_run": ort.InferenceSession(path, providers=[provider])}
    applied: dict[str, int] = {}
    if engine.config.cpu_graph_rewrites and provider == "CPUExecutionProvider":
        rewritten, applied = load_rewritten(path)
        sessions["bare_session_run_rewritten"] = ort.InferenceSession(rewritten, providers=[provider])
    return sessions, applied


def stage_latency(engine: DefectDetector, frames: list[np.ndarray], settings: EngineSettings) -> dict:
    """Per-frame stage latency of ``inspect`` beside bare ``session.run`` calls on the same tensors."""
    bare, applied = bare_sessions(engine)
    name = engine.runtime.input_name
    tensors = [engine.model_inputs(f)[0] for f in frames]
    for i in range(settings.warmup):
        engine.inspect(frames[i % len(frames)])
        for session in bare.values():
            session.run(None, {name: tensors[i % len(tensors)]})
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": [], "total": []}
    bare_ms: dict[str, list[float]] = {label: [] for label in bare}
    done = 0
    while done < settings.frames:
        block = range(done, min(done + BLOCK, settings.frames))
        for i in block:
            t0 = time.perf_counter()
            result = engine.inspect(frames[i % len(frames)])
            stages["total"].append((time.perf_counter() - t0) * 1000)
            for stage, ms in result.timings_ms.items():
                stages[stage].append(ms)
        for label, session in bare.items():
            bare_ms[label] += [_timed(lambda i=i: session.run(None, {name: tensors[i % len(tensors)]})) for i in block]
        done = block.stop
    return {
        "stages_ms": {k: percentiles(v) for k, v in stages.items()},
        **{f"{label}_ms": percentiles(times) for label, times in bare_ms.items()},
        "graph_rewrites": applied,
        "samples_ms": {"total": stages["total"], **bare_ms},
    }


@dataclass(frozen=True)
class PacedBareRuns:
    """Bare ``session.run`` times (ms) per bare session, with the frames arriving at a part rate."""

    rate_hz: float
    provider: str
    times_ms: dict[str, list[float]]


def paced_bare_runs(detector: DetectorConfig, frames: list[np.ndarray], rate_hz: float, count: int) -> PacedBareRuns:
    """Bare ``session.run`` latency with the frames arriving at the line's part rate, not back to back.

    Between parts at 10 per second the runtime's threads go to sleep and the
    other processes take the caches; the first inference after such a gap
    is slower than one of a back-to-back loop. This is the runtime's own time
    under the line's cadence, so the line's ratio measures what the line
    adds. Each bare session gets ``count`` inferences, one per period of
    ``1 / rate_hz``, the sessions taking turns in blocks.
    """
    engine = DefectDetector(dataclasses.replace(detector, warmup_runs=0))
    try:
        sessions, _ = bare_sessions(engine)
        name = engine.runtime.input_name
        tensors = [engine.model_inputs(f)[0] for f in frames]
    finally:
        engine.close()
    for session in sessions.values():
        for tensor in tensors[:5]:
            session.run(None, {name: tensor})
    period = 1.0 / rate_hz
    runs: dict[str, list[float]] = {label: [] for label in sessions}
    next_tick = time.monotonic()
    for done in range(0, count, BLOCK):
        for label, session in sessions.items():
            for i in range(done, min(done + BLOCK, count)):
                next_tick += period
                time.sleep(max(next_tick - time.monotonic(), 0))
                runs[label].append(_timed(lambda i=i: session.run(None, {name: tensors[i % len(tensors)]})))
    return PacedBareRuns(rate_hz, engine.providers[0], runs)


def bracketing_summary(before: PacedBareRuns, after: PacedBareRuns) -> dict:
    """Paced bare runs taken half before and half after the line, as one reference.

    On a shared machine the speed drifts over minutes; a reference taken on
    both sides of the line is exposed to the same drift as the line, where
    one taken only after it is not. Each half's p50 is kept, so the report
    shows the drift.
    """
    summary: dict[str, Any] = {"rate_hz": before.rate_hz, "provider": before.provider, "taken": "half before, half after the line"}
    for label, first in before.times_ms.items():
        second = after.times_ms.get(label, [])
        summary[f"{label}_ms"] = percentiles(first + second)
        summary[f"{label}_p50_before_after_ms"] = [percentiles(first)["p50"], percentiles(second)["p50"]]
    return summary


def batch_throughput(
    model: Path, provider: str, frames_chw: list[np.ndarray], settings: EngineSettings, workdir: Path
) -> dict:
    """Images per second at each batch size, on a dynamic-batch copy of the model.

    Falls back to concurrent batch-1 sessions (threads) when the graph cannot
    take a batch; the result says which method was used.
    """
    dynamic = workdir / f"{model.stem}.dynamic-batch.onnx"
    try:
        if not dynamic.exists():
            make_dynamic_batch(model, dynamic)
        worst = check_batch_equivalence(model, dynamic)
    except InspectorError as err:
        log.warning("no dynamic-batch copy of %s (%s); measuring concurrent sessions instead", model, err)
        return {"method": "concurrent sessions", "reason": str(err), "batches": _concurrent_throughput(model, provider, frames_chw, settings)}
    session = create_session(str(dynamic), [provider])
    name = session.get_inputs()[0].name
    batches = []
    for size in settings.batch_sizes:
        x = np.ascontiguousarray(np.concatenate([frames_chw[i % len(frames_chw)] for i in range(size)]))
        for _ in range(3):
            session.run(None, {name: x})
        runs = [_timed(lambda: session.run(None, {name: x})) for _ in range(settings.batch_runs)]
        batches.append(
            {
                "batch": size,
                "batch_latency_ms": percentiles(runs),
                "images_per_s": round(size * len(runs) / (sum(runs) / 1000), 1),
            }
        )
    return {"method": "dynamic-batch copy of the model", "max_abs_difference_vs_batch_1": worst, "batches": batches}


def _concurrent_throughput(model: Path, provider: str, frames_chw: list[np.ndarray], settings: EngineSettings) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    out = []
    for workers in settings.batch_sizes:
        sessions = [create_session(str(model), [provider]) for _ in range(workers)]
        name = sessions[0].get_inputs()[0].name
        x = frames_chw[0]

        def work(s: ort.InferenceSession) -> None:
            for _ in range(settings.batch_runs):
                s.run(None, {name: x})

        with ThreadPoolExecutor(workers) as pool:
            t0 = time.perf_counter()
            list(pool.map(work, sessions))
            elapsed = time.perf_counter() - t0
        out.append({"batch": workers, "images_per_s": round(workers * settings.batch_runs / elapsed, 1)})
    return out


def thread_variants(detector: DetectorConfig, settings: EngineSettings) -> list[tuple[str, int | None, bool]]:
    """(label, intra-op threads, spinning) of each session setting to compare."""
    variants: list[tuple[str, int | None, bool]] = [
        ("one per usable core" if n == 0 else str(n), n, True) for n in settings.thread_counts
    ]
    variants.append(("ONNX Runtime default (pinned)", None, True))
    configured = detector.intra_op_threads
    variants.append((f"{configured or 'one per usable core'}, spinning off", configured, False))
    return variants


def thread_effect(
    model: Path, provider: str, frames_chw: list[np.ndarray], variants: list[tuple[str, int | None, bool]],
    settings: EngineSettings, cpu_graph_rewrites: bool,
) -> list[dict]:
    """Inference latency and batch-1 throughput of each session setting, on the graph the detector runs,
    measured in alternating blocks."""
    sessions = [
        create_session(str(model), [provider], threads, spinning, cpu_graph_rewrites) for _, threads, spinning in variants
    ]
    name = sessions[0].get_inputs()[0].name
    for session in sessions:
        for i in range(5):
            session.run(None, {name: frames_chw[i % len(frames_chw)]})
    runs: list[list[float]] = [[] for _ in sessions]
    for done in range(0, settings.thread_frames, BLOCK):
        block = range(done, min(done + BLOCK, settings.thread_frames))
        for session, times in zip(sessions, runs):
            times += [_timed(lambda i=i: session.run(None, {name: frames_chw[i % len(frames_chw)]})) for i in block]
    return [
        {
            "label": label,
            "intra_op_threads": threads,
            "spinning": spinning,
            "inference_ms": percentiles(times),
            "images_per_s": round(len(times) / (sum(times) / 1000), 1),
        }
        for (label, threads, spinning), times in zip(variants, runs)
    ]


def idle_gap(detector: DetectorConfig, provider: str, frames: list[np.ndarray], settings: EngineSettings) -> dict:
    """The first inspection after ``idle_gap_s`` without a part, without and with keep-warm."""
    result: dict[str, Any] = {"gap_s": settings.idle_gap_s, "trials": settings.idle_trials, "keep_warm_s": settings.keep_warm_s}
    for label, keep_warm_s in (("without_keep_warm", 0.0), ("with_keep_warm", settings.keep_warm_s)):
        engine = open_detector(detector, provider, keep_warm_s=keep_warm_s)
        try:
            for i in range(settings.warmup):
                engine.inspect(frames[i % len(frames)])
            steady = [_timed(lambda i=i: engine.inspect(frames[i % len(frames)])) for i in range(BLOCK)]
            first = []
            for trial in range(settings.idle_trials):
                time.sleep(settings.idle_gap_s)
                first.append(_timed(lambda: engine.inspect(frames[trial % len(frames)])))
            keep_warm = engine.runtime.keep_warm
            runs = keep_warm.runs if keep_warm is not None else 0
        finally:
            engine.close()
        steady_p50 = float(np.median(steady))
        first_stats = percentiles(first)
        result[label] = {
            "steady_ms": percentiles(steady),
            "first_after_idle_ms": first_stats,
            "penalty_p50_ms": round(first_stats["p50"] - steady_p50, 3),
            "keep_warm_inferences": runs,
        }
    return result


def bench_provider(
    detector: DetectorConfig, provider: str, frames: list[np.ndarray], settings: EngineSettings, workdir: Path
) -> dict:
    """Everything the engine section reports for one provider; ``status`` says whether it could run."""
    try:
        engine = open_detector(detector, provider)
    except InspectorError as err:
        return {"provider": provider, "status": "unavailable", "reason": str(err)}
    try:
        log.info("%s: stage latency over %d frames", provider, settings.frames)
        stages = stage_latency(engine, frames, settings)
        frames_chw = [engine.model_inputs(f)[0] for f in frames]
        model = engine.package.onnx_path
    finally:
        engine.close()
    log.info("%s: batch throughput", provider)
    batches = batch_throughput(model, provider, frames_chw, settings, workdir)
    log.info("%s: thread settings", provider)
    threads = thread_effect(
        model, provider, frames_chw, thread_variants(detector, settings), settings, detector.cpu_graph_rewrites
    )
    log.info("%s: idle gap of %.1fs, without and with keep-warm", provider, settings.idle_gap_s)
    idle = idle_gap(detector, provider, frames, settings)
    return {
        "provider": provider,
        "status": "measured",
        **stages,
        "throughput": batches,
        "threads": threads,
        "idle_gap": idle,
    }


def bench_engine(
    detector: DetectorConfig, frames: list[np.ndarray], settings: EngineSettings, workdir: Path, providers: list[str] | None = None
) -> list[dict]:
    """One result per provider present (or per ``providers`` asked for)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return [bench_provider(detector, p, frames, settings, workdir) for p in (providers or providers_present())]

"""Every model family's latency beside the station's model, on the same frames.

Each model runs alone in the line's own :class:`DefectDetector` (its family's
pre- and post-processing, ONNX Runtime on the station's providers and
threads). The models take turns in blocks of frames so that drift in the
machine's load hits them alike. Frames are the station's own (synthetic
parts) or, with ``frames_folder``, images of the plant's parts (a dataset
split, for example): a model is timed on what it was made for.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.bench.stats import percentiles
from inspector.config.schema import DetectorConfig
from inspector.engine.detector import STAGES, DefectDetector
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

BLOCK = 10
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class FamilySettings:
    models: tuple[Path, ...] = ()  # packages to time beside the station's model(s)
    frames: int = 200
    warmup: int = 10


def folder_frames(folder: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` images of ``folder`` (recursively, in name order), as a camera would deliver them."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
    frames = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in files]
    frames = [f for f in frames if f is not None]
    if not frames:
        raise InspectorError(f"no readable image in {folder}")
    return frames


def station_models(detector: DetectorConfig) -> list[Path]:
    return [Path(detector.model), *(Path(m.model) for m in detector.additional_models)]


def bench_families(detector: DetectorConfig, frames: list[np.ndarray], settings: FamilySettings) -> dict[str, Any]:
    """Stage latency (p50..p99.9) of each model alone, timed in alternating blocks on ``frames``."""
    paths = list(dict.fromkeys([*station_models(detector), *settings.models]))
    engines = []
    try:
        for path in paths:
            config = dataclasses.replace(detector, model=str(path), additional_models=[], warmup_runs=0, keep_warm_s=0.0)
            engines.append(DefectDetector(config))
        for engine in engines:
            for i in range(settings.warmup):
                engine.inspect(frames[i % len(frames)])
        samples: list[dict[str, list[float]]] = [{k: [] for k in (*STAGES, "total")} for _ in engines]
        for first in range(0, settings.frames, BLOCK):
            for engine, times in zip(engines, samples):
                for i in range(first, min(first + BLOCK, settings.frames)):
                    t0 = time.perf_counter()
                    result = engine.inspect(frames[i % len(frames)])
                    times["total"].append((time.perf_counter() - t0) * 1000)
                    for stage in STAGES:
                        times[stage].append(result.timings_ms[stage])
        models = []
        for path, engine, times in zip(paths, engines, samples):
            meta = engine.package.metadata
            models.append({
                "model": meta.label,
                "family": meta.family,
                "path": str(path),
                "input_size": list(meta.input_size),
                "runs_per_frame": engine.family.runs_per_frame,
                "size_mb": round(path.stat().st_size / 1e6, 2),
                "providers": engine.providers,
                "stages_ms": {k: percentiles(v) for k, v in times.items()},
                "samples_ms": times["total"],
            })
    finally:
        for engine in engines:
            engine.close()
    reference = models[0]["stages_ms"]["total"]["p50"]
    for m in models:
        m["p50_vs_station_model"] = round(m["stages_ms"]["total"]["p50"] / reference, 3)
    frame_shapes = sorted({f.shape for f in frames}, key=str)
    return {"frames": settings.frames, "distinct_frames": len(frames), "frame_shapes": [list(s) for s in frame_shapes[:5]], "models": models}


def families_section(result: dict[str, Any]) -> list[str]:
    """The report's Markdown for :func:`bench_families`."""
    lines = [
        "## Model families on the same frames",
        "",
        f"{result['frames']} inspections per model ({result['distinct_frames']} distinct frames), each model alone in the "
        "line's detector, the models taking turns in blocks of 10. p50 relative to the station's (first) model.",
        "",
        "| model | family | input | runs/frame | total p50 ms | p90 | p99 | inference p50 | pre p50 | post p50 | vs station | MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in result["models"]:
        s = m["stages_ms"]
        lines.append(
            f"| {m['model']} | {m['family']} | {'x'.join(map(str, m['input_size']))} | {m['runs_per_frame']} | "
            f"{s['total']['p50']} | {s['total']['p90']} | {s['total']['p99']} | {s['inference']['p50']} | "
            f"{s['preprocess']['p50']} | {s['postprocess']['p50']} | {m['p50_vs_station_model']} | {m['size_mb']} |"
        )
    return lines + [""]

"""INT8: static quantization of a model package with ONNX Runtime's tools, and what it costs in accuracy.

The model is quantized to QDQ form (uint8 activations, int8 per-channel
weights), calibrated on images pre-processed by the model's own family (as
the line will feed it): the synthetic parts the model was trained on (same
generator seed), or any image folder. A YOLO detection head's decoding (the
DFL, box arithmetic, concatenations after the last convolutions) stays in
float: quantizing it moves boxes by whole pixels for little speed. The result is a model package of its own (ONNX + metadata
with its own sha256), so the line loads it like any other model.

Accuracy is measured the way the plant sees it (:mod:`inspector.evaluation`):
both models score the same held-out parts through :class:`DefectDetector`,
with the same thresholds.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import onnx
from onnxruntime import quantization

from inspector.bench.stats import percentiles
from inspector.config.schema import DetectorConfig
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import ModelPackage, load_model_package, sha256_of, write_metadata
from inspector.errors import ModelError
from inspector.evaluation import image_metrics, line_thresholds, score_images
from inspector.synthetic import PartGenerator

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Int8Settings:
    calibration_images: int = 200
    calibration_folder: Path | None = None  # None: synthetic parts from the model's own training generator
    eval_images: int = 400  # held-out synthetic parts (without eval_data)
    eval_seed: int = 424242  # neither the training generator's seed nor the demo camera's
    eval_data: Path | None = None  # a dataset: both models are scored on its eval_split instead
    eval_split: str = "test"
    eval_defect_rate: float = 0.5
    latency_frames: int = 100
    float_head: bool = True
    reduce_range: bool | None = None  # None: on when the CPU lacks VNNI (see cpu_has_vnni)


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has VNNI (AVX-512 VNNI or AVX-VNNI) integer dot products; False when unknown.

    Without VNNI, x86 INT8 kernels multiply uint8 activations by int8 weights
    with an instruction that saturates 16-bit sums; 8-bit weights then
    overflow and the model's scores fall apart. 7-bit weights
    (``reduce_range``) stay clear of it.
    """
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def calibration_images(package: ModelPackage, settings: Int8Settings) -> Iterator[np.ndarray]:
    """Calibration frames: the image folder's files, or the model's training parts."""
    if settings.calibration_folder is not None:
        files = sorted(p for p in settings.calibration_folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ModelError(f"no images in the calibration folder {settings.calibration_folder}")
        for path in files[: settings.calibration_images]:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ModelError(f"calibration image {path} cannot be read")
            yield image
        return
    dataset = package.metadata.dataset
    generator = PartGenerator(defect_rate=float(dataset.get("defect_rate", 0.5)), seed=int(dataset.get("generator_seed", 0)))
    for i in range(settings.calibration_images):
        yield generator.part(i).image


def head_nodes(model_path: Path) -> list[str]:
    """Nodes of the last ``/model.N/`` module (the detection head) that are not convolutions."""
    graph = onnx.load(str(model_path)).graph
    indices = [int(m.group(1)) for n in graph.node if (m := re.match(r"^/model\.(\d+)/", n.name))]
    if not indices:
        return []
    prefix = f"/model.{max(indices)}/"
    return [n.name for n in graph.node if n.name.startswith(prefix) and n.op_type != "Conv"]


def quantize_package(package: ModelPackage, out_dir: Path, settings: Int8Settings) -> ModelPackage:
    """Write ``<name>-int8.onnx`` and its metadata into ``out_dir``; returns the loaded package."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = package.onnx_path.stem
    prepared = out_dir / f"{stem}-prepared.onnx"
    target = out_dir / f"{stem}-int8.onnx"
    meta = package.metadata
    # the model's own family pre-processes the calibration images, exactly as the line will
    engine = DefectDetector(DetectorConfig(model=str(package.onnx_path), providers=["CPUExecutionProvider"], warmup_runs=0), package)
    input_name = engine.runtime.input_name

    class Reader(quantization.CalibrationDataReader):
        """Calibration images as model inputs (every tile of each), one at a time."""

        def __init__(self) -> None:
            self.inputs = (tensor for image in calibration_images(package, settings) for tensor in engine.model_inputs(image))

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self.inputs, None)
            return None if tensor is None else {input_name: tensor}

    try:
        quantization.quant_pre_process(str(package.onnx_path), str(prepared), skip_symbolic_shape=True)
        excluded = head_nodes(prepared) if settings.float_head else []
        reduce_range = not cpu_has_vnni() if settings.reduce_range is None else settings.reduce_range
        t0 = time.perf_counter()
        quantization.quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            calibrate_method=quantization.CalibrationMethod.MinMax,
            nodes_to_exclude=excluded,
            # fold activation ranges every 16 images instead of holding every image's activations in memory
            extra_options={"CalibMaxIntermediateOutputs": 16},
        )
        seconds = time.perf_counter() - t0
    except ModelError:
        raise
    except Exception as err:  # onnxruntime.quantization raises assorted untyped errors
        raise ModelError(f"INT8 quantization of {package.onnx_path} failed: {err}") from err
    finally:
        prepared.unlink(missing_ok=True)
        engine.close()
    recipe = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "activations": "uint8",
        "weights": "int8 per channel" + (" (7-bit range: reduce_range)" if reduce_range else ""),
        "calibration": "MinMax",
        "calibration_images": settings.calibration_images,
        "calibration_source": str(settings.calibration_folder or "synthetic parts of the model's training generator"),
        "float_nodes": len(excluded),
        "from_model": meta.label,
        "from_sha256": meta.onnx_sha256,
        "seconds": round(seconds, 1),
    }
    int8_meta = dataclasses.replace(
        meta,
        version=f"{meta.version}-int8",
        onnx_sha256=sha256_of(target),
        training={**meta.training, "quantization": recipe},
        metrics={},  # filled in by the evaluation below; the fp32 model's figures do not apply
    )
    write_metadata(target, int8_meta)
    return load_model_package(target)


def held_out_parts(settings: Int8Settings) -> list[tuple[np.ndarray, frozenset[str]]]:
    """What both models are scored on: the dataset's split, or held-out synthetic parts."""
    if settings.eval_data is not None:
        from inspector.datasets_tool import load_dataset

        return list(load_dataset(settings.eval_data).samples(settings.eval_split))
    generator = PartGenerator(defect_rate=settings.eval_defect_rate, seed=settings.eval_seed)
    parts = (generator.part(i) for i in range(settings.eval_images))
    return [(p.image, frozenset(d.cls for d in p.defects)) for p in parts]


def _latency(engine: DefectDetector, frames: list[np.ndarray], count: int, start: int = 0) -> list[float]:
    out = []
    for i in range(start, start + count):
        t0 = time.perf_counter()
        engine.inspect(frames[i % len(frames)])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def compare_int8(detector: DetectorConfig, fp32: ModelPackage, int8: ModelPackage, settings: Int8Settings) -> dict[str, Any]:
    """Accuracy and latency of both packages on the same held-out parts, same thresholds and provider."""
    samples = held_out_parts(settings)
    frames = [image for image, _ in samples[:32]]
    alone = dataclasses.replace(detector, model=str(fp32.onnx_path), additional_models=[])
    engines = {
        "fp32": DefectDetector(alone, fp32),
        "int8": DefectDetector(dataclasses.replace(alone, model=str(int8.onnx_path)), int8),
    }
    result: dict[str, Any] = {}
    try:
        for engine in engines.values():
            _latency(engine, frames, 10)  # warm-up
        latency: dict[str, list[float]] = {"fp32": [], "int8": []}
        for block in range(0, settings.latency_frames, 10):  # alternate blocks: drift hits both alike
            for label, engine in engines.items():
                latency[label] += _latency(engine, frames, min(10, settings.latency_frames - block), block)
        for label, engine in engines.items():
            metrics = image_metrics(score_images(engine, samples), line_thresholds(engine))
            result[label] = {
                "model": engine.model_version,
                "path": str(engine.package.onnx_path),
                "size_mb": round(engine.package.onnx_path.stat().st_size / 1e6, 2),
                "providers": engine.providers,
                "latency_ms": percentiles(latency[label]),
                "metrics": metrics,
            }
    finally:
        for engine in engines.values():
            engine.close()
    evaluated_on = (
        f"the {settings.eval_split} split of {settings.eval_data}" if settings.eval_data is not None
        else f"held-out synthetic parts (seed {settings.eval_seed})"
    )
    write_metadata(int8.onnx_path, dataclasses.replace(int8.metadata, metrics={"held_out": result["int8"]["metrics"], "evaluated_on": evaluated_on}))
    f, i = result["fp32"], result["int8"]
    return {
        **result,
        "package": str(int8.onnx_path),
        "calibration_images": settings.calibration_images,
        "calibration_method": f"MinMax, QDQ, uint8 activations, {int8.metadata.training['quantization']['weights']} weights"
        + (", detection head decoding in float" if settings.float_head else ""),
        "eval_images": len(samples),
        "evaluated_on": evaluated_on,
        "speedup_p50": round(f["latency_ms"]["p50"] / i["latency_ms"]["p50"], 3),
        "escape_rate_change": i["metrics"]["escape_rate"] - f["metrics"]["escape_rate"],
        "false_reject_rate_change": i["metrics"]["false_reject_rate"] - f["metrics"]["false_reject_rate"],
        "auroc_change": i["metrics"]["auroc"] - f["metrics"]["auroc"],
    }

"""What the families trained with torch share: importing torch, the device, settings checks, ONNX export.

torch is the ``train`` extra; it is imported here, lazily, with a clear
message when it is missing, so the appliance (which serves models with ONNX
Runtime) never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from inspector.engine.families.score_maps import InputScaling, ScoreMapSettings
from inspector.errors import ConfigError, TrainingError
from inspector.training.features import BACKBONES, INPUT_OFFSET, INPUT_SCALE


def require_torch() -> Any:
    """The torch module, or a :class:`TrainingError` saying which extra to install."""
    try:
        import torch
    except ImportError as err:
        raise TrainingError("training needs the 'train' extra (pip install 'inspector[train]')") from err
    return torch


def resolve_device(device: str) -> str:
    """``auto`` becomes the first CUDA GPU when torch sees one, else ``cpu``; anything else is kept."""
    if device != "auto":
        return device
    return "0" if require_torch().cuda.is_available() else "cpu"


def torch_device(device: str) -> Any:
    """The torch device of a resolved device name ('cpu', '0', '1'...)."""
    return require_torch().device("cpu" if device == "cpu" else f"cuda:{device}")


def check_feature_settings(settings: Any) -> None:
    """The checks every family on pretrained features shares: backbone, input size, taps, tiles."""
    if settings.backbone not in BACKBONES:
        raise ConfigError("backbone", f"must be one of {', '.join(BACKBONES)}, got {settings.backbone!r}")
    if any(v % 32 or v < 64 for v in settings.input_size):
        raise ConfigError("input_size", f"must be multiples of 32, at least 64, got {list(settings.input_size)}")
    if not settings.taps or len(set(settings.taps)) != len(settings.taps):
        raise ConfigError("taps", f"must name one or more distinct backbone blocks, got {list(settings.taps)}")
    if min(settings.tiles) < 1:
        raise ConfigError("tiles", f"must be at least [1, 1], got {list(settings.tiles)}")


def input_settings(settings: Any) -> ScoreMapSettings:
    """How the line's score-map family will feed the model: grey, TF-Lite scaling, the run's standardisation and tiles."""
    return ScoreMapSettings(
        colour="grey", input_scaling=InputScaling(INPUT_OFFSET, INPUT_SCALE), standardise=settings.standardise,
        tiles=tuple(settings.tiles), tile_overlap=settings.tile_overlap,
    )


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 2-D Gaussian kernel reaching 3 sigma (at least 3 x 3)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    g = np.exp(-(x**2) / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g).astype(np.float32)


def export_onnx(module: Any, input_size: tuple[int, int], onnx_path: Path, output: str) -> None:
    """Export a torch module taking ``1 x 3 x H x W`` to ONNX (static shapes, opset 17, TorchScript exporter)."""
    torch = require_torch()
    example = torch.zeros(1, 3, *input_size)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                module, (example,), str(onnx_path), input_names=["image"], output_names=[output], opset_version=17,
                dynamo=False,
            )
    except (RuntimeError, ValueError, TypeError) as err:
        raise TrainingError(f"ONNX export to {onnx_path} failed: {err}") from err

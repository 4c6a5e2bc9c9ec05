"""A model package: ``<name>.onnx`` and its metadata ``<name>.json`` beside it.

The metadata says what the model detects (classes, input size), how its
scores become decisions (per-class thresholds chosen at training), where it
came from (dataset, training settings), how good it was (metrics) and the
sha256 of the ONNX file, which is checked on load so a swapped or truncated
file is refused rather than served.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.errors import ModelError
from inspector.typed import FieldProblem, from_dict, to_dict


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    classes: list[str]
    input_size: tuple[int, int]  # height, width
    onnx_sha256: str
    class_thresholds: dict[str, float] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What verdicts carry as the model version."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ModelPackage:
    onnx_path: Path
    metadata: ModelMetadata


def metadata_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model_package(onnx_path: str | Path) -> ModelPackage:
    """Load and check a model package; raise :class:`ModelError` saying what is wrong."""
    onnx_path = Path(onnx_path)
    meta_path = metadata_path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"model file {onnx_path} does not exist")
    try:
        raw = json.loads(meta_path.read_text())
    except OSError as err:
        raise ModelError(f"model metadata {meta_path} cannot be read: {err.strerror}") from err
    except ValueError as err:
        raise ModelError(f"model metadata {meta_path} is not valid JSON: {err}") from err
    try:
        meta = from_dict(ModelMetadata, raw)
    except FieldProblem as err:
        raise ModelError(f"model metadata {meta_path}: field {err}") from err
    actual = sha256_of(onnx_path)
    if actual != meta.onnx_sha256:
        raise ModelError(
            f"model file {onnx_path} has sha256 {actual[:16]}…, its metadata expects {meta.onnx_sha256[:16]}…; "
            "the file was changed or truncated"
        )
    unknown = sorted(set(meta.class_thresholds) - set(meta.classes))
    if unknown:
        raise ModelError(f"model metadata {meta_path}: threshold for unknown class {unknown[0]!r}")
    return ModelPackage(onnx_path, meta)


def write_metadata(onnx_path: Path, metadata: ModelMetadata) -> Path:
    path = metadata_path(onnx_path)
    path.write_text(json.dumps(to_dict(metadata), indent=2) + "\n")
    return path

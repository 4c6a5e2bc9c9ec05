"""A model package: ``<name>.onnx`` and its metadata ``<name>.json`` beside it, loaded and checked.

The metadata (:mod:`inspector.engine.model_metadata`) names the model family
that reads the ONNX outputs; a package loads only when that family is
registered (:mod:`inspector.engine.families`), its metadata is valid (upgraded
from an earlier schema version in memory; the file is left as it is) and the
ONNX file has the sha256 the metadata records, so a swapped or truncated file
is refused rather than served.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.engine.families import family_names
from inspector.engine.model_metadata import ModelMetadata, upgrade_metadata
from inspector.errors import ModelError
from inspector.typed import FieldProblem, from_dict, to_dict

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


def parse_metadata(raw: Any, where: str) -> ModelMetadata:
    """Validate (and upgrade) a metadata mapping; ``where`` names it in errors."""
    if not isinstance(raw, dict):
        raise ModelError(f"model metadata {where} must be a JSON object")
    try:
        meta = from_dict(ModelMetadata, upgrade_metadata(raw))
    except FieldProblem as err:
        raise ModelError(f"model metadata {where}: field {err}") from err
    if meta.family not in family_names():
        raise ModelError(f"model metadata {where}: unknown model family {meta.family!r} (known: {', '.join(family_names())})")
    norm = meta.score_normalisation
    if not (math.isfinite(norm.scale) and norm.scale > 0 and math.isfinite(norm.shift)):
        raise ModelError(f"model metadata {where}: score_normalisation scale must be a positive number, got {norm.scale}")
    unknown = sorted(set(meta.class_thresholds) - set(meta.classes))
    if unknown:
        raise ModelError(f"model metadata {where}: threshold for unknown class {unknown[0]!r}")
    return meta


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
    meta = parse_metadata(raw, str(meta_path))
    actual = sha256_of(onnx_path)
    if actual != meta.onnx_sha256:
        raise ModelError(
            f"model file {onnx_path} has sha256 {actual[:16]}…, its metadata expects {meta.onnx_sha256[:16]}…; "
            "the file was changed or truncated"
        )
    return ModelPackage(onnx_path, meta)


def write_metadata(onnx_path: Path, metadata: ModelMetadata) -> Path:
    path = metadata_path(onnx_path)
    path.write_text(json.dumps(to_dict(metadata), indent=2) + "\n")
    return path

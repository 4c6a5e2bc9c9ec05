"""A model package: ``<name>.onnx`` and its metadata ``<name>.json`` beside it.

The metadata says which model family reads the ONNX outputs (``family``,
registered in :mod:`inspector.engine.families`), what the model finds
(classes, input size), how its raw scores are normalised and how they become
decisions (per-class thresholds chosen at export), where it came from
(dataset, training settings), how good it was (metrics) and the sha256 of the
ONNX file, which is checked on load so a swapped or truncated file is refused
rather than served.

Schema versions: 1 (no ``family``: every package made before model families,
the shipped default among them) is a YOLO detector; it is upgraded to the
current version on load, in memory (the file is left as it is).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.errors import ModelError
from inspector.typed import FieldProblem, from_dict, to_dict

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ScoreNormalisation:
    """Raw model scores become the scores thresholds are set in: ``(raw - shift) / scale``.

    A YOLO detector's scores are already probabilities (shift 0, scale 1). An
    anomaly model's raw distances are not; its export sets the shift and
    scale from good validation parts (``basis`` says how), so a score reads
    as "this far above a typical good part".
    """

    shift: float = 0.0
    scale: float = 1.0
    basis: str = "identity"

    def apply(self, raw: Any) -> Any:
        return (raw - self.shift) / self.scale


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    classes: list[str]
    input_size: tuple[int, int]  # height, width
    onnx_sha256: str
    family: str = "yolo"
    schema_version: int = SCHEMA_VERSION
    score_normalisation: ScoreNormalisation = field(default_factory=ScoreNormalisation)
    family_settings: dict[str, Any] = field(default_factory=dict)  # what the family needs to read this model
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


def upgrade_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    """Metadata of any earlier schema version in the current form (a new dict)."""
    version = raw.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise FieldProblem("schema_version", f"expected an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise FieldProblem(
            "schema_version", f"{version} is newer than this Inspector reads ({SCHEMA_VERSION}); update Inspector"
        )
    upgraded = dict(raw)
    if version < 2:  # before model families: every package was a YOLO detector with probability scores
        upgraded.setdefault("family", "yolo")
        upgraded.setdefault("score_normalisation", {"shift": 0.0, "scale": 1.0, "basis": "identity"})
    upgraded["schema_version"] = SCHEMA_VERSION
    return upgraded


def parse_metadata(raw: Any, where: str) -> ModelMetadata:
    """Validate (and upgrade) a metadata mapping; ``where`` names it in errors."""
    if not isinstance(raw, dict):
        raise ModelError(f"model metadata {where} must be a JSON object")
    try:
        meta = from_dict(ModelMetadata, upgrade_metadata(raw))
    except FieldProblem as err:
        raise ModelError(f"model metadata {where}: field {err}") from err
    from inspector.engine.families import family_names

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

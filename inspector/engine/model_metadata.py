"""What a model package's metadata (``<name>.json`` beside ``<name>.onnx``) holds, and its schema versions.

The metadata says which model family reads the ONNX outputs (``family``),
what the model finds (classes, input size), how its raw scores are normalised
and how they become decisions (per-class thresholds chosen at export), where
it came from (dataset, training settings), how good it was (metrics) and the
sha256 of the ONNX file. Reading a package from disk, with its checks, is
:mod:`inspector.engine.model_package`; the model families read this value.

Schema versions: 1 (no ``family``: every package made before model families,
the shipped default among them) is a YOLO detector; :func:`upgrade_metadata`
brings it to the current version (in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inspector.typed import FieldProblem

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

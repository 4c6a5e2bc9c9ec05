"""Triage: decided parts whose scores lie close to a reject threshold, queued for review by uncertainty.

A part is uncertain when one of its findings scored within ``models.triage_band``
(in the model's score units) of its class's reject threshold: the model was
close to deciding otherwise. :func:`uncertain_parts` lists such parts that have
a stored image and no label yet, the most uncertain first (smallest distance
to a threshold), for the review screen and ``inspector model triage``. The
thresholds are the station's decision rules for the model that decided the
part (production of any slot, or any installed package), so the queue follows
promotions and rollbacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from inspector.config.schema import Config, DetectorConfig
from inspector.engine.decision_rules import DecisionRules
from inspector.engine.families import family_class
from inspector.engine.model_package import load_model_package
from inspector.errors import InspectorError, ModelError
from inspector.modelops.registry import ModelRegistry
from inspector.records.parts import unlabelled_with_detections


@dataclass(frozen=True)
class UncertainPart:
    camera: str
    part_id: int
    result: str
    model_version: str
    uncertainty: float  # distance of the closest score to its class's threshold (smaller: less certain)
    cls: str  # the class of that finding
    score: float
    threshold: float
    image_path: str


def _rules(detector: DetectorConfig, onnx: Path, overrides: dict[str, float]) -> tuple[str, dict[str, float]]:
    meta = load_model_package(onnx).metadata
    floor = family_class(meta.family)(meta, detector).rule_score_floor()
    rules = DecisionRules.build(meta.classes, overrides, meta.class_thresholds, floor, 0.0)
    return meta.label, rules.by_class


def thresholds_by_model(config: Config) -> dict[str, dict[str, float]]:
    """Per model label: its per-class reject thresholds as the station applies them."""
    out: dict[str, dict[str, float]] = {}
    with ModelRegistry(config) as registry:
        try:
            paths = registry.production_paths()
        except ModelError:
            paths = []
        overrides = [config.detector.class_thresholds, *(m.class_thresholds for m in config.detector.additional_models)]
        for path, slot_overrides in zip(paths, overrides):
            label, by_class = _rules(config.detector, path, slot_overrides)
            out[label] = by_class
        configured = [Path(config.detector.model), *(Path(m.model) for m in config.detector.additional_models)]
        for path, slot_overrides in zip(configured, overrides):
            label, by_class = _rules(config.detector, path, slot_overrides)
            out.setdefault(label, by_class)
        for package in registry.packages():
            if package.label not in out:
                try:
                    out[package.label] = _rules(config.detector, registry.onnx_path(package.package_id),
                                                config.detector.class_thresholds)[1]
                except (ModelError, InspectorError):
                    continue
    return out


def uncertain_parts(config: Config, band: float | None = None, limit: int = 100) -> list[UncertainPart]:
    """Unlabelled parts with an image whose closest score lies within ``band`` of its threshold, least certain first."""
    band = config.models.triage_band if band is None else band
    database = Path(config.recorder.database)
    if not database.is_file():
        return []
    thresholds = thresholds_by_model(config)
    rows = unlabelled_with_detections(database)
    queue = []
    for row in rows:
        closest = None
        for d in json.loads(row["detections"] or "[]"):
            model = d.get("model") or row["model_version"]
            threshold = thresholds.get(model, {}).get(d.get("cls"))
            if threshold is None:
                continue
            distance = abs(float(d["score"]) - threshold)
            if distance <= band and (closest is None or distance < closest[0]):
                closest = (distance, d["cls"], float(d["score"]), threshold)
        if closest is not None:
            queue.append(UncertainPart(row["camera"], row["part_id"], row["result"], row["model_version"],
                                       round(closest[0], 6), closest[1], closest[2], closest[3], row["image_path"]))
    queue.sort(key=lambda p: (p.uncertainty, p.part_id))
    return queue[:limit]



"""The gate: a candidate package against the slot's production model on the golden set, with the line's decision rule.

Both models judge every golden image through :class:`~inspector.engine.detector.DefectDetector`
with the station's decision settings for the slot (the one decision rule the
line uses). The candidate passes the gate only if

* it misses no defect production catches (a defective image production
  rejects and the candidate passes),
* its false rejects (good images it rejects) are at most production's plus
  ``models.gate_false_reject_tolerance`` of the good images, and
* every challenge part gets the decision it must get.

The report is stored as JSON and markdown in ``<registry>/gates/``
(:mod:`~inspector.modelops.gate_records`) and the run is audited; ``promote``
looks for a passing report of the candidate against the slot's current
production model on the latest golden version
(:func:`~inspector.modelops.registry.passing_gate`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from calibration.station import read_image
from inspector.config.schema import Config, DetectorConfig
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package
from inspector.errors import ModelError
from inspector.modelops.gate_records import GATES, GateReport, ItemResult, store_report
from inspector.modelops.golden import GoldenSet, GoldenVersion
from inspector.modelops.registry import ModelRegistry, content_id, gate_reports, slot_names


def slot_detector_config(config: Config, slot: str, model: Path) -> DetectorConfig:
    """The station's decision settings for ``slot`` with ``model`` in it, as a one-model detector."""
    names = slot_names(config)
    if slot not in names:
        raise ModelError(f"no model slot {slot!r} on this station (slots: {', '.join(names)})")
    detector = dataclasses.replace(config.detector, additional_models=[], warmup_runs=1, keep_warm_s=0.0)
    index = names.index(slot)
    if index == 0:
        return dataclasses.replace(detector, model=str(model))
    extra = config.detector.additional_models[index - 1]
    return dataclasses.replace(detector, model=str(model), class_thresholds=extra.class_thresholds,
                               min_area_px=extra.min_area_px, min_area_mm2=extra.min_area_mm2)


def _decisions(detector: DetectorConfig, golden: GoldenSet, version: GoldenVersion) -> list[tuple[bool, float]]:
    engine = DefectDetector(detector)
    try:
        out = []
        for item in version.items:
            inspection = engine.inspect(read_image(golden.image_path(item)))
            score = inspection.defect_score
            out.append((inspection.rejected, score if math.isfinite(score) else -1.0))
        return out
    finally:
        engine.close()


def run_gate(registry: ModelRegistry, golden: GoldenSet, candidate_ref: str, user: str, slot: str = "primary",
             version: GoldenVersion | None = None) -> tuple[GateReport, Path]:
    """Gate an installed candidate; returns the report and the path of its JSON file."""
    config = registry.config
    candidate = registry.find(candidate_ref)
    registry.check(candidate.package_id)
    version = version or golden.latest()
    production_path = registry.production_paths()[slot_names(config).index(slot)] if slot in slot_names(config) else None
    if production_path is None:
        raise ModelError(f"no model slot {slot!r} on this station (slots: {', '.join(slot_names(config))})")
    production_id = content_id(production_path)
    production_label = load_model_package(production_path).metadata.label
    prod = _decisions(slot_detector_config(config, slot, production_path), golden, version)
    cand = _decisions(slot_detector_config(config, slot, registry.onnx_path(candidate.package_id)), golden, version)
    items = [ItemResult(i.source, i.label, i.origin, i.expect, p[0], c[0], round(c[1], 6))
             for i, p, c in zip(version.items, prod, cand)]
    good = [r for r in items if r.label == "good"]
    missed = [r.source for r in items if r.label == "defective" and r.production_rejects and not r.candidate_rejects]
    challenge = [r.source for r in items if r.origin == "challenge" and r.candidate_rejects != (r.expect == "reject")]
    fr_prod, fr_cand = sum(r.production_rejects for r in good), sum(r.candidate_rejects for r in good)
    tolerance = config.models.gate_false_reject_tolerance
    allowed = fr_prod + tolerance * len(good)
    reasons = []
    if missed:
        reasons.append(f"misses {len(missed)} defect(s) production catches")
    if fr_cand > allowed + 1e-9:
        reasons.append(f"rejects {fr_cand} of {len(good)} good images, production {fr_prod} (allowed {allowed:.1f} "
                       f"with tolerance {tolerance:g})")
    if challenge:
        reasons.append(f"gets {len(challenge)} challenge part(s) wrong")
    counts = {
        **version.counts(),
        "production_false_rejects": fr_prod, "candidate_false_rejects": fr_cand,
        "production_caught": sum(r.production_rejects for r in items if r.label == "defective"),
        "candidate_caught": sum(r.candidate_rejects for r in items if r.label == "defective"),
    }
    report = GateReport(candidate.package_id, candidate.label, production_id, production_label, slot, version.version,
                        tolerance, not reasons, reasons, counts, missed, challenge, user, time.time(), items)
    path = store_report(registry.folder / GATES, report)
    registry.trail.record(user, "model_gate", candidate.package_id, None, {
        "passed": report.passed, "reasons": reasons, "slot": slot, "production": production_id,
        "golden_version": version.version, "report": str(path),
    })
    return report, path


def production_gate_scores(registry: ModelRegistry, onnx: Path) -> list[float]:
    """The model's scores on the golden set from its latest passing gate (drift's score reference); [] if never gated."""
    try:
        reports = [r for r in gate_reports(registry, content_id(onnx)) if r.passed]
    except (OSError, ModelError):
        return []
    return reports[-1].candidate_scores if reports else []

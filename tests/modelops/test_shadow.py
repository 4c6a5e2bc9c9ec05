"""Shadow mode: a candidate judges live frames beside production, never changing or delaying a decision.

On a running line (real processes) the detector picks up the sealed shadow order, compares a candidate that
lets defects through with production over N parts, records every disagreement with both decisions and the
image, and writes the report; production's decisions are untouched. In-process, a busy shadow skips frames and
counts them instead of making anyone wait.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from calibration.station import open_audit_trail
from inspector.engine.detector import DefectDetector
from inspector.errors import ModelError
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.modelops.registry import ModelRegistry
from inspector.modelops.shadow import (
    ShadowRunner,
    disagreements,
    read_order,
    run_folder,
    start_shadow,
    stop_shadow,
)
from inspector.synthetic.parts import PartGenerator
from tests.helpers import header_for, wait_until
from tests.modelops.packages import trusting_test_key, variant


def lenient(config, tmp_path) -> Path:
    meta = json.loads(Path(config.detector.model).with_suffix(".json").read_text())
    return variant(config, tmp_path, "lenient", class_thresholds={c: 0.999 for c in meta["classes"]})


@pytest.mark.slow
def test_a_shadow_run_on_the_line_records_disagreements_and_reports_without_touching_decisions(line_config, tmp_path):
    config = trusting_test_key(line_config(parts=0, rate_hz=6, budget_ms=5000), tmp_path)
    with ModelRegistry(config) as registry:
        candidate, _ = registry.install(lenient(config, tmp_path), "quality")
        order = start_shadow(registry, candidate.label, "quality", parts=12)
    folder = run_folder(ModelRegistry(config), order.run)

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: (folder / "report.json").is_file(), 180, "the shadow report")
        wait_until(lambda: [a for a in alarm_rows(config) if a["code"] == "shadow_report"], 30, "the report's alarm")
        n = len(part_rows(config))
        wait_until(lambda: len(part_rows(config)) >= n + 3, 60, "the line deciding on after the report")
    rows = {r["part_id"]: r for r in part_rows(config)}
    report = json.loads((folder / "report.json").read_text())
    differ = disagreements(folder)

    production = Path(config.detector.model)
    label = json.loads(production.with_suffix(".json").read_text())
    assert {r["model_version"] for r in rows.values()} == {f"{label['name']}@{label['version']}"}, "production decided every part"
    assert {r["source"] for r in rows.values()} == {"verdict"}
    assert report["compared"] == 12 and report["label"] == candidate.label
    assert report["candidate_rejects_production_passes"] == 0
    assert report["candidate_passes_production_rejects"] == len(differ) > 0, "the lenient candidate lets defects through"
    for d in differ:
        assert rows[d["part_id"]]["result"] == "REJECT" and d["production_rejects"] == 1 and d["candidate_rejects"] == 0
        assert Path(d["image_path"]).is_file() and d["production_reason"] and d["candidate_reason"] == ""
    assert (folder / "report.md").read_text().startswith(f"# Shadow run {order.run}")
    with open_audit_trail(config) as trail:
        assert trail.latest("model_shadow_report").after["compared"] == 12
        assert trail.latest("model_shadow_start").user == "quality"


def test_a_busy_shadow_skips_frames_and_counts_them(line_config, tmp_path):
    config = trusting_test_key(line_config(), tmp_path)
    frame = PartGenerator(seed=99).part(3).image
    engine = DefectDetector(config.detector)
    judgements = engine.inspect(frame).judgements
    engine.close()
    alarms: list = []
    with ModelRegistry(config) as registry:
        candidate, _ = registry.install(variant(config, tmp_path, "candidate"), "quality")
        order = start_shadow(registry, candidate.label, "quality", parts=3)
    runner = ShadowRunner(config, lambda *alarm: alarms.append(alarm))
    runner.poll(0.0)
    assert runner.active
    part = iter(range(1, 100_000))

    def offer() -> int:
        runner.offer(header_for(next(part), frame), frame, judgements)
        return runner.skipped_total

    wait_until(offer, 60, "a frame offered while the shadow is busy", poll_s=0.0)
    folder = run_folder(runner.registry, order.run)
    wait_until(lambda: offer() is not None and (folder / "report.json").is_file(), 120, "the report after 3 parts", poll_s=0.05)
    runner.poll(1e9)
    runner.close()
    report = json.loads((folder / "report.json").read_text())
    assert report["compared"] == 3 and report["agreed"] == 3, "the same decisions as production"
    assert report["skipped"] >= 1
    assert [a[0] for a in alarms] == ["shadow_report"]


def test_the_shadow_order_is_sealed_and_stoppable(line_config, tmp_path):
    config = trusting_test_key(line_config(), tmp_path)
    with ModelRegistry(config) as registry:
        candidate, _ = registry.install(variant(config, tmp_path, "candidate"), "quality")
        with pytest.raises(ModelError, match="at least one part"):
            start_shadow(registry, candidate.label, "quality", parts=0)
        order = start_shadow(registry, candidate.label, "quality", parts=5)
        assert read_order(registry) == order
        path = registry.folder / "shadow.json"
        document = json.loads(path.read_text())
        document["order"]["parts"] = 5000
        path.write_text(json.dumps(document))
        with pytest.raises(ModelError, match="does not carry the station's seal"):
            read_order(registry)
        start_shadow(registry, candidate.label, "quality", parts=5)
        assert stop_shadow(registry, "quality") is not None and read_order(registry) is None


@pytest.mark.slow
def test_a_promoted_model_whose_reject_rate_departs_from_its_shadow_run_is_rolled_back(line_config, tmp_path):
    """Shadowed on good parts only (it rejected next to none), promoted onto a run of defective parts: its reject
    rate departs from the shadow's by far more than the limit, so after 'departure_parts' parts it is rolled back."""
    config = trusting_test_key(line_config(parts=0, rate_hz=8, budget_ms=5000), tmp_path)
    models = dataclasses.replace(config.models, departure_parts=12, max_reject_rate_departure=0.3)
    good_parts = dataclasses.replace(config, models=models,
                                     cameras=[dataclasses.replace(c, defect_rate=0.0) for c in config.cameras])
    with ModelRegistry(config) as registry:
        a, _ = registry.install(Path(config.detector.model), "quality")
        b, _ = registry.install(variant(config, tmp_path, "B"), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        order = start_shadow(registry, b.label, "quality", parts=8)
    folder = run_folder(ModelRegistry(config), order.run)
    with running_line(good_parts, tmp_path / "shadow"):
        wait_until(lambda: (folder / "report.json").is_file(), 180, "the shadow report")
    assert json.loads((folder / "report.json").read_text())["candidate_reject_rate"] <= 0.125

    bad_parts = dataclasses.replace(good_parts, cameras=[dataclasses.replace(c, defect_rate=1.0) for c in config.cameras])
    shadowed = {r["part_id"] for r in part_rows(good_parts)}
    with running_line(bad_parts, tmp_path / "promoted"):
        first = len(part_rows(bad_parts)) + 3
        wait_until(lambda: len(part_rows(bad_parts)) >= first, 120, "parts decided by A")
        with ModelRegistry(bad_parts) as registry:
            registry.promote(b.label, "quality", reason="shadow looked fine", force=True)
        alarm = wait_until(lambda: [x for x in alarm_rows(bad_parts) if x["code"] == "model_rollback"], 180, "the rollback")
        wait_until(lambda: [r for r in part_rows(bad_parts) if r["model_version"] == a.label
                            and r["part_id"] > max(q["part_id"] for q in part_rows(bad_parts) if q["model_version"] == b.label)],
                   120, "A deciding again")
    rows = [r for r in part_rows(bad_parts) if r["part_id"] not in shadowed]
    assert "departs from the" in alarm[0]["text"] and f"back to {a.label}" in alarm[0]["text"]
    on_b = [r for r in rows if r["model_version"] == b.label]
    assert len(on_b) >= 12, "B decided its departure_parts parts before the verdict on it"
    assert [r["part_id"] for r in rows] == list(range(rows[0]["part_id"], rows[-1]["part_id"] + 1))
    assert {r["source"] for r in rows} == {"verdict"}
    with ModelRegistry(bad_parts) as registry:
        assert registry.describe_slots()[0]["label"] == a.label
    with open_audit_trail(bad_parts) as trail:
        assert trail.latest("model_rollback").after["automatic"] is True


def test_the_shadow_skips_and_counts_a_frame_when_production_has_the_next_one_waiting(line_config, tmp_path):
    config = trusting_test_key(line_config(), tmp_path)
    frame = PartGenerator(seed=99).part(3).image
    engine = DefectDetector(config.detector)
    judgements = engine.inspect(frame).judgements
    engine.close()
    with ModelRegistry(config) as registry:
        candidate, _ = registry.install(variant(config, tmp_path, "candidate"), "quality")
        start_shadow(registry, candidate.label, "quality", parts=3)
    runner = ShadowRunner(config, lambda *alarm: None)
    runner.poll(0.0)
    try:
        assert runner.active
        for part in range(1, 6):  # an idle shadow, but production always has its next frame queued
            runner.offer(header_for(part, frame), frame, judgements, production_waiting=True)
        assert runner.skipped_total == 5 and runner.offered == 5
    finally:
        runner.close()

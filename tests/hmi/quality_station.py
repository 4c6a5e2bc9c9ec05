"""A station for the quality screens' tests and screenshots: a real registry with three signed packages (two
promoted, so one is production and one last-known-good), a gate run on a small golden set of challenge parts,
a finished shadow run with disagreements, and a drift series with one alarm."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2

from inspector.config.schema import Config
from inspector.engine.decision_rules import Judgement
from inspector.messages import Alarm, Detection
from inspector.modelops.drift_series import DriftSeriesWriter, drift_series_path
from inspector.modelops.gate import run_gate
from inspector.modelops.registry import ModelRegistry, RegisteredPackage
from inspector.modelops.shadow import (
    ShadowRecord,
    run_folder,
    shadow_summary,
    start_shadow,
)
from inspector.records.store import Store
from inspector.synthetic.parts import PartGenerator
from tests.helpers import header_for
from tests.modelops.packages import bundled_model, variant


def registry_with_history(config: Config, tmp_path: Path, trail, user: str = "quinn") -> dict[str, RegisteredPackage]:
    """A (the bundled model), B and C installed; B promoted (forced, with a reason), then C gated against B on a
    golden set of challenge parts and promoted on its passing gate: C runs, B is last-known-good."""
    generator = PartGenerator(seed=7301)
    for expect, defective in (("reject", True), ("pass", False)):
        folder = tmp_path / f"challenge-{expect}"
        folder.mkdir(parents=True, exist_ok=True)
        found = [i for i in range(100, 200) if generator.is_defective(i) == defective][:2]
        for index in found:
            cv2.imwrite(str(folder / f"part_{index}.png"), generator.part(index).image)
    with ModelRegistry(config, trail=trail) as registry:
        a, _ = registry.install(bundled_model(config), user)
        b, _ = registry.install(variant(config, tmp_path, "2.0-b"), user)
        c, _ = registry.install(variant(config, tmp_path, "3.0-c"), user)
        registry.promote(b.package_id, user, reason="first registry release", force=True)
        golden = registry.golden()
        golden.add_challenge_folder(tmp_path / "challenge-reject", "reject", user)
        golden.add_challenge_folder(tmp_path / "challenge-pass", "pass", user)
        golden.build(user)
        report, _ = run_gate(registry, golden, c.package_id, user)
        assert report.passed, report.reasons
        registry.promote(c.package_id, user, reason="passed its gate on the golden set")
    return {"A": a, "B": b, "C": c}


def shadow_run(config: Config, trail, candidate: RegisteredPackage, production: RegisteredPackage, parts: int = 6,
               skipped: int = 2) -> Path:
    """A finished shadow run of ``candidate`` beside ``production``: ``parts`` compared, the first two disagreeing
    (both ways), with images of real synthetic parts."""
    registry = ModelRegistry(config, trail=trail)
    order = start_shadow(registry, candidate.package_id, "quinn", parts=parts)
    folder = run_folder(registry, order.run)
    record = ShadowRecord(folder)
    generator = PartGenerator(seed=7301)
    defective = [i for i in range(200) if generator.is_defective(i)]
    scratch = [Detection("scratch", 0.91, (120.0, 100.0, 200.0, 140.0), 3200.0, True)]
    for part_id in range(1, parts + 1):
        production_rejects = part_id in (1, 3)
        candidate_rejects = part_id in (2, 3)
        judged = Judgement(production.label, scratch if production_rejects else [], {}, production_rejects, 0.9 if production_rejects else 0.1)
        shadow = Judgement(candidate.label, scratch if candidate_rejects else [], {}, candidate_rejects, 0.8 if candidate_rejects else 0.2)
        frame = generator.part(defective[part_id]).image  # a real synthetic part with a defect
        record.add(header_for(part_id, frame), frame, judged, shadow,
                   f"{production.label}: scratch" if production_rejects else "", f"{candidate.label}: scratch" if candidate_rejects else "")
    record.count_skipped(skipped)
    record.close()
    report = {"run": order.run, "candidate": candidate.package_id, "label": candidate.label, "slot": "primary",
              "finished_at": time.time(), **shadow_summary(folder)}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def drift_series_with_alarm(config: Config, store: Store, camera: str = "top", points: int = 30) -> None:
    """The detector's drift series for ``camera``: brightness drifting past its limit over the last points, the
    others steady; the recorder's alarms: drift_brightness raised where it crossed, drift_contrast raised and cleared
    before the series began."""
    writer = DriftSeriesWriter(drift_series_path(config), every=1, keep=1000)
    now = time.time()
    limit = config.drift.max_brightness_shift
    crossed = None  # when, how far and at which part brightness first passed its limit: the alarm's moment
    for i in range(points):
        brightness, t, part_id = 2.0 + i * (limit * 1.4 / points), now - (points - i) * 60, 1000 + i * 10
        writer.add(camera, part_id, {"brightness": brightness, "contrast": 0.05 + 0.002 * i, "scores": 0.04 + 0.001 * (i % 5),
                                     "reject_rate": 0.02, "latency": 0.1}, t=t)
        if crossed is None and brightness > limit:
            crossed = (t, brightness, part_id)
    writer.close()
    t, moved, part_id = crossed
    store.record([], [
        Alarm("station-1", "detector", "drift_contrast", "warning", f"camera {camera}: contrast changed 40 % from the reference",
              now - (points + 30) * 60, True, 700),  # before the series: a lamp changed, then put right
        Alarm("station-1", "detector", "drift_contrast", "info", f"camera {camera}: contrast back within its limit",
              now - (points + 10) * 60, False, 900),
        Alarm("station-1", "detector", "drift_brightness", "warning",
              f"camera {camera}: mean brightness moved {moved:.1f} grey levels from the reference over the last "
              f"{config.drift.window_parts} parts (limit {limit:g}); check lighting, camera and parts, consider retraining", t, True, part_id),
    ])

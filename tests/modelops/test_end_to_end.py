"""ModelOps end to end on real processes, as a quality engineer lives it.

A line runs production model A (the bundled detector). Candidate B (the same weights, but it rejects scratches
only) is installed and gated on a golden set of good parts and scratched parts, where it decides exactly as A
does, so it passes. In shadow on live parts it disagrees with A on the other defect kinds, and each
disagreement is recorded with its image. B is promoted without stopping the line, every part keeps exactly one
decision; the camera's lighting brightens by 40 grey levels and the drift alarm follows within the window;
B is rolled back to A, again between parts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.config.schema import DriftConfig
from inspector.engine.detector import DefectDetector
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.modelops.gate import run_gate
from inspector.modelops.registry import ModelRegistry
from inspector.modelops.shadow import disagreements, run_folder, start_shadow
from inspector.synthetic.parts import PartGenerator
from tests.helpers import wait_until
from tests.modelops.packages import bundled_model, trusting_test_key, variant

pytestmark = pytest.mark.slow

IMAGES, SHIFT_FROM, SHIFT = 120, 81, 40  # the camera's parts; from part 81 on the light is 40 levels brighter
WINDOW = 10


def camera_folder(folder: Path) -> Path:
    generator = PartGenerator(seed=8128)
    folder.mkdir()
    for index in range(1, IMAGES + 1):
        image = generator.part(index).image
        if index >= SHIFT_FROM:
            image = np.clip(image.astype(np.int16) + SHIFT, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"part_{index:04d}.png"), image)
    return folder


def golden_parts(config, registry: ModelRegistry, tmp_path: Path) -> None:
    """Good parts and scratched parts that production decides right: where A and B must agree."""
    generator = PartGenerator(seed=9001)
    engine = DefectDetector(config.detector)
    good, scratched = tmp_path / "golden-good", tmp_path / "golden-scratch"
    good.mkdir()
    scratched.mkdir()
    try:
        for index in itertools.count(1):
            part = generator.part(index)
            kinds = {d.cls for d in part.defects}
            folder = good if not kinds else scratched if kinds == {"scratch"} else None
            if folder is None or engine.inspect(part.image).rejected != bool(kinds):
                continue
            if len(list(folder.iterdir())) < 6:
                cv2.imwrite(str(folder / f"part_{index}.png"), part.image)
            if all(len(list(f.iterdir())) >= 6 for f in (good, scratched)):
                break
    finally:
        engine.close()
    golden = registry.golden()
    golden.add_challenge_folder(good, "pass", "quality")
    golden.add_challenge_folder(scratched, "reject", "quality")
    golden.build("quality")


def test_install_gate_shadow_promote_drift_and_roll_back_on_a_running_line(line_config, tmp_path):
    config = trusting_test_key(line_config(parts=0, rate_hz=6, budget_ms=5000), tmp_path)
    camera = dataclasses.replace(config.cameras[0], driver="folder", folder=str(camera_folder(tmp_path / "camera")), loop=True)
    drift = DriftConfig(reference_parts=20, window_parts=WINDOW, max_score_psi=100, max_reject_rate_change=1,
                        max_latency_increase=100, max_contrast_change=100)
    config = dataclasses.replace(config, cameras=[camera], drift=drift)
    meta = json.loads(bundled_model(config).with_suffix(".json").read_text())
    a_label = f"{meta['name']}@{meta['version']}"
    scratch_only = {c: (meta["class_thresholds"][c] if c == "scratch" else 0.999) for c in meta["classes"]}
    with ModelRegistry(config) as registry:
        b, _ = registry.install(variant(config, tmp_path, "B-scratch-only", class_thresholds=scratch_only), "quality")
        golden_parts(config, registry, tmp_path)
        report, _ = run_gate(registry, registry.golden(), b.label, "quality")
        assert report.passed, report.reasons
        order = start_shadow(registry, b.label, "quality", parts=15)
    shadow = run_folder(ModelRegistry(config), order.run)

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: (shadow / "report.json").is_file(), 180, "the shadow report")
        with ModelRegistry(config) as registry:
            registry.promote(b.label, "quality", reason="gate passed; shadow differences reviewed")  # no --force
        wait_until(lambda: sum(r["model_version"] == b.label for r in part_rows(config)) >= 5, 120, "5 parts decided by B")
        brightened = wait_until(lambda: [x for x in alarm_rows(config) if x["code"] == "drift_brightness" and x["active"]],
                                180, "the drift alarm")
        with ModelRegistry(config) as registry:
            assert registry.rollback("quality", reason="drift: check the lighting on A first") == "the configured model"
        last_b = wait_until(lambda: [r["part_id"] for r in part_rows(config) if r["model_version"] == b.label], 10, "B parts")[-1]
        wait_until(lambda: sum(r["model_version"] == a_label and r["part_id"] > last_b for r in part_rows(config)) >= 3,
                   120, "A deciding again after the rollback")
    rows = part_rows(config)

    differ = disagreements(shadow)
    assert differ and all(d["production_rejects"] == 1 and d["candidate_rejects"] == 0 for d in differ)
    assert all(Path(d["image_path"]).is_file() for d in differ)
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)), "every part exactly one decision"
    assert {r["source"] for r in rows} == {"verdict"}, "no part waited for a model across the swaps"
    assert [v for v, _ in itertools.groupby(r["model_version"] for r in rows)] == [a_label, b.label, a_label]
    assert [r["first_on_model"] for r in rows if r["model_version"] == b.label][:3] == [1, 2, 3]
    image_index = (brightened[0]["part_id"] - 1) % IMAGES + 1
    assert SHIFT_FROM <= image_index < SHIFT_FROM + WINDOW, "the drift alarm within the window after the shift"

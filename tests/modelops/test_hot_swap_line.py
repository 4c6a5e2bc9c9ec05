"""Promotion and rollback on a running line (real processes): the detector swaps models between parts.

Every part gets exactly one decision across a swap, and it is a verdict of a
model, never a fail-safe; the parts after a promotion carry the new model's
version and their count on it (``first_on_model``); ``rollback`` returns to
the last-known-good model the same way; a promoted package that cannot run
never decides a part: the detector rolls the registry back and raises an alarm.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys

import pytest

from calibration.station import open_audit_trail
from inspector.config import write_config
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.modelops.registry import ModelRegistry
from tests.helpers import wait_until
from tests.modelops.packages import bundled_model, trusting_test_key, variant

pytestmark = pytest.mark.slow


def cli(config_file, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "inspector", "model", *args, "--config", str(config_file)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def runs(rows) -> list[tuple[str, int]]:
    """The model versions in part order, as (version, number of consecutive parts)."""
    return [(version, len(list(group))) for version, group in itertools.groupby(r["model_version"] for r in rows)]


def parts_on(config, label: str, after: int = 0) -> int:
    return sum(1 for r in part_rows(config) if r["model_version"] == label and r["part_id"] > after)


def test_promote_mid_run_swaps_between_parts_and_rollback_returns_to_the_last_known_good(line_config, tmp_path):
    config = trusting_test_key(line_config(parts=0, rate_hz=8, budget_ms=5000), tmp_path)
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        registry.promote(a.label, "quality", reason="the line's baseline", force=True)
    b_onnx = variant(config, tmp_path, "B-candidate")
    assert "installed: " in cli(config_file, "install", str(b_onnx), "--user", "quality")
    b_label = a.label.split("@")[0] + "@B-candidate"

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: parts_on(config, a.label) >= 5, 120, "5 parts decided by A")
        assert "is production" in cli(config_file, "promote", b_label, "--user", "quality", "--reason", "trial", "--force")
        wait_until(lambda: parts_on(config, b_label) >= 6, 120, "6 parts decided by B")
        last_b = max(r["part_id"] for r in part_rows(config) if r["model_version"] == b_label)
        assert "rolled back to " + a.label in cli(config_file, "rollback", "--user", "admin", "--reason", "escapes reported")
        wait_until(lambda: parts_on(config, a.label, after=last_b) >= 5, 120, "5 parts decided by A after the rollback")
    rows = part_rows(config)

    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)), "every part exactly one decision"
    assert {r["source"] for r in rows} == {"verdict"}, "no part waited for a model: no fail-safe across the swaps"
    assert [v for v, _ in runs(rows)] == [a.label, b_label, a.label], "A, then B from one part on, then A again"
    b_rows = [r for r in rows if r["model_version"] == b_label]
    a_again = [r for r in rows if r["model_version"] == a.label and r["part_id"] > b_rows[-1]["part_id"]]
    marked = config.models.marked_parts
    assert [r["first_on_model"] for r in b_rows] == [min(i, marked + 1) % (marked + 1) for i in range(1, len(b_rows) + 1)]
    assert [r["first_on_model"] for r in a_again][:3] == [1, 2, 3]
    assert all(r["first_on_model"] == 0 for r in rows[: rows.index(b_rows[0])]), "parts before any swap are not marked"
    swaps = [a_["text"] for a_ in alarm_rows(config) if a_["code"] == "model_swapped"]
    assert swaps == [f"now deciding with {b_label} (was {a.label})", f"now deciding with {a.label} (was {b_label})"]


def test_a_promoted_model_that_cannot_load_is_rolled_back_automatically_with_an_alarm(line_config, tmp_path):
    config = trusting_test_key(line_config(parts=0, rate_hz=8, budget_ms=5000), tmp_path)
    broken = variant(config, tmp_path, "broken", broken_onnx=True)  # signed, hashes in order, not a model
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        bad, _ = registry.install(broken, "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: parts_on(config, a.label) >= 5, 120, "5 parts decided by A")
        with ModelRegistry(config) as registry:
            registry.promote(bad.label, "quality", reason="try the new one", force=True)
        alarm = wait_until(lambda: [x for x in alarm_rows(config) if x["code"] == "model_rollback"], 120, "the rollback alarm")
        seen = len(part_rows(config))
        wait_until(lambda: len(part_rows(config)) >= seen + 5, 120, "5 more parts after the rollback")
    rows = part_rows(config)

    assert alarm[0]["severity"] == "critical"
    assert "failed its checks and never decided a part" in alarm[0]["text"] and f"back to {a.label}" in alarm[0]["text"]
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["source"] for r in rows} == {"verdict"} and {r["model_version"] for r in rows} == {a.label}
    with ModelRegistry(config) as registry:
        assert registry.describe_slots()[0]["label"] == a.label
    with open_audit_trail(config) as trail:
        rollback = trail.latest("model_rollback")
    assert rollback.user == "detector" and rollback.after["automatic"] is True and rollback.after["label"] == a.label


def test_a_production_package_changed_in_the_registry_is_refused_at_start_and_rolled_back(line_config, tmp_path):
    config = trusting_test_key(line_config(parts=5, rate_hz=8, budget_ms=5000), tmp_path)
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        b, _ = registry.install(variant(config, tmp_path, "B"), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
    with running_line(config, tmp_path / "first"):  # A runs, and is kept as the last-known-good set
        wait_until(lambda: len(part_rows(config)) >= 5, 120, "5 parts decided by A")
    with ModelRegistry(config) as registry:
        registry.promote(b.label, "quality", reason="trial", force=True)
        meta = registry.onnx_path(b.package_id).with_suffix(".json")
        meta.chmod(0o600)
        document = json.loads(meta.read_text())
        document["class_thresholds"] = {c: 2.0 for c in document["classes"]}  # B now passes everything
        meta.write_text(json.dumps(document))

    more = dataclasses.replace(config, cameras=[dataclasses.replace(c, max_parts=10) for c in config.cameras])
    with running_line(more, tmp_path / "second"):
        rows = wait_until(lambda: len(part_rows(more)) >= 15 and part_rows(more), 120, "10 more parts")
        rollback = wait_until(lambda: [x for x in alarm_rows(more) if x["code"] == "model_rollback"], 60, "the rollback alarm")
    assert "refused at start" in rollback[0]["text"] and f"back to {a.label}" in rollback[0]["text"]
    assert {r["model_version"] for r in rows} == {a.label} and {r["source"] for r in rows} == {"verdict"}
    with ModelRegistry(more) as registry:
        assert registry.describe_slots()[0]["label"] == a.label

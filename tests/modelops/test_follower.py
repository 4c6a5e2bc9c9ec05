"""The detector's side of promotion, in-process: the production pointer is followed only when it carries the seal,
and a newly promoted model is handed over only once loaded, warmed and self-tested."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.model_trust import configured_models
from inspector.modelops.hot_swap import ProductionFollower, ReadyModels
from inspector.modelops.registry import ModelRegistry
from tests.helpers import wait_until
from tests.modelops.packages import bundled_model, trusting_test_key, variant

FRAME = np.full((480, 640), 90, np.uint8)


@pytest.fixture
def station(line_config, tmp_path):
    return trusting_test_key(line_config(), tmp_path)


def started(station, alarms):
    follower = ProductionFollower(station, lambda code, severity, text: alarms.append((code, severity, text)))
    follower.started(configured_models(follower.start_config().detector))
    return follower


def test_a_promotion_is_handed_over_loaded_and_checked_and_a_hand_edited_pointer_is_ignored_with_an_alarm(station, tmp_path):
    alarms: list = []
    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        b, _ = registry.install(variant(station, tmp_path, "B"), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        follower = started(station, alarms)
        assert follower.running == [registry.onnx_path(a.package_id)]
        registry.promote(b.label, "quality", reason="trial", force=True)
        clock = iter(range(1, 10_000))
        ready = wait_until(lambda: follower.poll(float(next(clock)), FRAME), 120, "B loaded and checked")
        assert isinstance(ready, ReadyModels) and ready.engine.model_version == b.label
        assert follower.running == [registry.onnx_path(b.package_id)]
        ready.engine.close()

        document = json.loads(registry.pointer_path.read_text())
        document["slots"]["primary"]["package"] = a.package_id  # pointed back by hand, without the audit key
        registry.pointer_path.write_text(json.dumps(document))
        for now in range(20_000, 20_010):
            assert follower.poll(float(now), FRAME) is None
        follower.close()
    assert [(c, s) for c, s, _ in alarms] == [("model_pointer", "critical")]
    assert "does not carry the station's seal" in alarms[0][2]
    assert follower.running[0].parent.name == b.package_id, "the detector keeps what it runs"


def test_a_promoted_model_that_fails_its_self_test_is_never_handed_over_and_is_rolled_back(station, tmp_path):
    alarms: list = []
    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        nan, _ = registry.install(variant(station, tmp_path, "nan", nan_outputs=True), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        follower = started(station, alarms)
        registry.promote(nan.label, "quality", reason="trial", force=True)
        clock = iter(range(1, 10_000))
        wait_until(lambda: follower.poll(float(next(clock)), FRAME) or alarms, 120, "the self-test's verdict")
        assert registry.describe_slots()[0]["label"] == a.label
        for now in range(20_000, 20_005):
            assert follower.poll(float(now), FRAME) is None, "the rolled-back pointer names what runs: nothing to load"
        follower.close()
    assert [(c, s) for c, s, _ in alarms] == [("model_rollback", "critical")]
    assert "self-test" in alarms[0][2] and "not numbers" in alarms[0][2] and f"back to {a.label}" in alarms[0][2]
    assert follower.running == [registry.onnx_path(a.package_id)]

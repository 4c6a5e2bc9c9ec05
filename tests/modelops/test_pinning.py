"""Pinning and anti-rollback: a package signed by a trusted key is run only if it is the one the slot may run.

Real signed packages (the bundled model's weights, other versions and thresholds, signed by the test's own trusted
key), the station's real audit key and record of accepted packages in the test's state folder. What the station
must not do: run another release signed by the same key because it was put at the configured path, keep it as
last-known-good, or go back to an older release without an audited rollback.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from calibration.station import open_audit_trail
from inspector.config import config_from_dict
from inspector.typed import to_dict
from inspector.errors import ConfigError, ModelError
from inspector.model_pins import identify, is_older, record_path
from inspector.model_trust import last_known_good, lkg_folder, station_models
from inspector.modelops.hot_swap import ProductionFollower
from inspector.modelops.registry import ModelRegistry
from tests.modelops.packages import trusting_test_key, variant


@pytest.fixture
def station(line_config, tmp_path):
    return trusting_test_key(line_config(), tmp_path)


def at(config, path: Path, **pins: str):
    """The station with its primary model at ``path`` (and ``models.pins``)."""
    config = dataclasses.replace(config, detector=dataclasses.replace(config.detector, model=str(path)))
    return dataclasses.replace(config, models=dataclasses.replace(config.models, pins=pins))


def put(package: Path, target: Path) -> Path:
    """Copy a signed package (ONNX, metadata, signature) to ``target``'s folder, as someone with write access would."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".onnx", ".json", ".sig.json"):
        shutil.copyfile(package.with_name(f"model{suffix}"), target.with_name(f"model{suffix}"))
    return target


def lkg_state(config) -> tuple[str, str]:
    """What the last-known-good set holds: its manifest, and its model's identity."""
    return (lkg_folder(config) / "manifest.json").read_text(), identify(last_known_good(config)[0]).package_id


def test_another_package_signed_by_the_same_key_at_the_configured_path_is_refused_and_never_kept(station, tmp_path):
    released = variant(station, tmp_path, "2.0")
    other = variant(station, tmp_path, "2.1", class_thresholds={"scratch": 0.99})  # same key, another release
    config = at(station, put(released, tmp_path / "line3" / "model.onnx"))
    first = station_models(config)
    assert not first.fallback and first.detector.model == config.detector.model
    kept, record = lkg_state(config), record_path(config).read_text()

    put(other, Path(config.detector.model))  # the files at the configured path replaced by the other release
    second = station_models(config)
    assert second.fallback
    assert f"expected {identify(released).label} (package {identify(released).package_id[:12]})" in second.refused
    assert "which the slot last ran from this file" in second.refused
    assert f"found {identify(other).label}" in second.refused
    assert identify(Path(second.detector.model)).package_id == identify(released).package_id, "the released one runs"
    assert lkg_state(config) == kept and record_path(config).read_text() == record, "last-known-good unchanged"


def test_the_pinned_package_is_accepted_and_any_other_refused_naming_the_pin(station, tmp_path):
    v2, v21 = variant(station, tmp_path, "2.0"), variant(station, tmp_path, "2.1")
    path = put(v21, tmp_path / "line3" / "model.onnx")
    by_label = at(station, path, primary=identify(v21).label)
    assert not station_models(by_label).fallback
    by_id = at(station, path, primary=identify(v21).package_id[:16])
    assert not station_models(by_id).fallback

    pinned_v2 = at(station, path, primary=identify(v2).package_id)
    refused = station_models(pinned_v2)
    assert refused.fallback and identify(Path(refused.detector.model)).label == identify(v21).label
    assert f"expected package {identify(v2).package_id[:12]} (models.pins.primary in the station config)" in refused.refused
    assert f"found {identify(v21).label}" in refused.refused


def test_an_older_release_is_refused_until_an_audited_rollback_names_it(station, tmp_path):
    v3, v2 = variant(station, tmp_path, "3.0"), variant(station, tmp_path, "2.0")
    newer = at(station, put(v3, tmp_path / "v3" / "model.onnx"))
    assert not station_models(newer).fallback
    kept = lkg_state(newer)

    older = at(station, put(v2, tmp_path / "v2" / "model.onnx"))  # even a new path (a config edit) does not go back
    refused = station_models(older)
    assert refused.fallback and "3.0 or later (the highest the station accepted" in refused.refused
    assert f"found the older {identify(v2).label}" in refused.refused
    assert lkg_state(older) == kept
    assert identify(Path(refused.detector.model)).version == "3.0"

    with ModelRegistry(older) as registry:
        pkg, _ = registry.install(v2, "quality")
        with pytest.raises(ModelError, match=r"is not promoted: .* 3.0 or later.*audited rollback"):
            registry.promote(pkg.label, "quality", reason="quicker than a rollback", force=True)
        assert registry.rollback("quality", reason="escapes on 3.0", to=pkg.label) == pkg.label
    follower = ProductionFollower(older, lambda *alarm: None)
    start = follower.start_config()
    back = station_models(start, promoted=follower.start_pins())
    follower.close()
    assert not back.fallback and identify(Path(back.detector.model)).package_id == pkg.package_id
    assert identify(last_known_good(older)[0]).version == "2.0", "the rolled-back release is the last-known-good now"
    with open_audit_trail(older) as trail:
        entry = trail.latest("model_rollback")
    assert (entry.user, entry.after["label"], entry.after["reason"]) == ("quality", pkg.label, "escapes on 3.0")


def test_a_name_and_version_are_one_package(station, tmp_path):
    original = variant(station, tmp_path, "2.0")
    assert not station_models(at(station, put(original, tmp_path / "a" / "model.onnx"))).fallback
    shutil.rmtree(original.parent)
    twin = variant(station, tmp_path, "2.0", class_thresholds={"scratch": 0.99})  # same label, other content
    config = at(station, put(twin, tmp_path / "b" / "model.onnx"), primary=identify(twin).label)
    refused = station_models(config)
    assert refused.fallback and "a name and version are one package" in refused.refused


def test_the_record_of_accepted_packages_is_sealed(station, tmp_path):
    v3, v2 = variant(station, tmp_path, "3.0"), variant(station, tmp_path, "2.0")
    assert not station_models(at(station, put(v3, tmp_path / "v3" / "model.onnx"))).fallback
    path = record_path(station)
    document = json.loads(path.read_text())
    document["highest"] = {}  # the floor removed by hand
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="does not carry the station's seal"):
        station_models(at(station, put(v2, tmp_path / "v2" / "model.onnx")))


def test_versions_compare_by_their_leading_numbers():
    assert is_older("1.9", "1.10") and is_older("2026.11.23", "2026.12.1") and is_older("2", "2.0.1")
    assert not is_older("2.0", "2") and not is_older("v3", "2.9") and not is_older("B", "2.0") and not is_older("2.0", "B")


def test_a_pin_names_a_slot_of_the_station_and_a_package(station):
    data = to_dict(station)
    data["models"]["pins"] = {"additional-1": "inspector-default@1"}
    with pytest.raises(ConfigError, match="models.pins.additional-1.*no model slot"):
        config_from_dict(data, Path("."))
    data["models"]["pins"] = {"primary": "3f9a"}
    with pytest.raises(ConfigError, match="models.pins.primary.*expected name@version or a package id"):
        config_from_dict(data, Path("."))
    data["models"]["pins"] = {"primary": "inspector-default@2026.11.23"}
    assert config_from_dict(data, Path(".")).models.pins == {"primary": "inspector-default@2026.11.23"}


def test_a_hot_swap_keeps_the_set_it_swaps_to_and_raises_the_floor(station, tmp_path):
    import numpy as np

    from inspector.model_trust import configured_models
    from tests.helpers import wait_until

    v2, v3 = variant(station, tmp_path, "2.0"), variant(station, tmp_path, "3.0")
    with ModelRegistry(station) as registry:
        a, _ = registry.install(v2, "quality")
        b, _ = registry.install(v3, "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        follower = ProductionFollower(station, lambda *alarm: None)
        start = follower.start_config()
        follower.started(configured_models(station_models(start, promoted=follower.start_pins()).detector))
        registry.promote(b.label, "quality", reason="newer", force=True)
        clock = iter(range(1, 10_000))
        ready = wait_until(lambda: follower.poll(float(next(clock)), np.full((480, 640), 90, np.uint8)), 120, "3.0 loaded")
        ready.engine.close()
        follower.close()
        assert identify(last_known_good(station)[0]).package_id == b.package_id
        with pytest.raises(ModelError, match="is not promoted: .* 3.0 or later"):
            registry.promote(a.label, "quality", reason="back", force=True)
        assert registry.rollback("quality", reason="back") == a.label


def test_model_verify_with_the_config_says_the_package_id_and_whether_the_slot_may_run_it(station, tmp_path, capsys):
    from inspector.cli import main
    from inspector.config import write_config

    released, other = variant(station, tmp_path, "2.0"), variant(station, tmp_path, "2.1")
    config = at(station, put(released, tmp_path / "line3" / "model.onnx"))
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    verify = ["model", "verify", config.detector.model, "--config", str(config_file)]
    assert main(verify) == 0
    assert f"package id {identify(released).package_id}" in capsys.readouterr().out
    assert not station_models(config).fallback
    put(other, Path(config.detector.model))
    assert main(verify) == 1
    assert "the station would refuse it: slot primary: expected" in capsys.readouterr().out

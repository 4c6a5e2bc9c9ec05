"""The station's model registry: signed packages only, content-addressed, one production model per slot,
last-known-good kept, every step audited, the production pointer sealed and owner-only."""

from __future__ import annotations

import json
import os
import stat

import pytest

from calibration.station import open_audit_trail
from inspector.engine.model_package import sha256_of
from inspector.errors import ModelError
from inspector.model_signing import generate_key_pair, sign_package
from inspector.modelops.registry import ModelRegistry, package_id, registry_folder
from tests.modelops.packages import bundled_model, trusting_test_key, variant


@pytest.fixture
def station(line_config, tmp_path):
    return trusting_test_key(line_config(), tmp_path)


def test_install_keeps_a_signed_package_under_its_content_address_with_who_and_when(station, tmp_path):
    with ModelRegistry(station) as registry:
        package, new = registry.install(bundled_model(station), "quality")
        again, new_again = registry.install(bundled_model(station), "someone-else")
    model = bundled_model(station)
    assert new and not new_again and again == package
    assert package.package_id == package_id(sha256_of(model), sha256_of(model.with_suffix(".json")))
    folder = registry_folder(station) / "packages" / package.package_id
    assert sorted(p.name for p in folder.iterdir()) == ["entry.json", "model.json", "model.onnx", "model.sig.json"]
    assert sha256_of(folder / "model.onnx") == sha256_of(model)
    assert package.family == "yolo" and package.installed_by == "quality" and package.installed_at > 0
    assert package.signer and len(package.key_id) == 16
    assert stat.S_IMODE(registry_folder(station).stat().st_mode) == 0o700


def test_the_same_weights_with_another_threshold_are_another_package(station, tmp_path):
    b = variant(station, tmp_path, "B", class_thresholds={"scratch": 0.9})
    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        b_pkg, _ = registry.install(b, "quality")
        assert a.package_id != b_pkg.package_id and a.onnx_sha256 == b_pkg.onnx_sha256
        assert [p.label for p in registry.packages()] == [a.label, b_pkg.label]
        assert registry.find(b_pkg.package_id[:8]) == b_pkg and registry.find(b_pkg.label) == b_pkg


def test_unsigned_untrusted_and_altered_packages_are_refused_at_install_and_the_refusal_is_audited(station, tmp_path):
    unsigned = variant(station, tmp_path, "unsigned", sign=False)
    untrusted = variant(station, tmp_path, "untrusted", sign=False)
    private, _ = generate_key_pair(tmp_path / "other-keys", "intruder")
    sign_package(untrusted, private, "intruder")
    altered = variant(station, tmp_path, "altered")
    meta = json.loads(altered.with_suffix(".json").read_text())
    meta["class_thresholds"] = {c: 2.0 for c in meta["classes"]}
    altered.with_suffix(".json").write_text(json.dumps(meta))
    with ModelRegistry(station) as registry:
        with pytest.raises(ModelError, match="not installed: .*is not signed"):
            registry.install(unsigned, "quality")
        with pytest.raises(ModelError, match="not installed: .*does not trust"):
            registry.install(untrusted, "quality")
        with pytest.raises(ModelError, match="not installed: .*changed after it was signed"):
            registry.install(altered, "quality")
        assert registry.packages() == []
    with open_audit_trail(station) as trail:
        refused = trail.entries("model_install_refused")
    assert [e.target for e in refused] == [str(unsigned), str(untrusted), str(altered)]


def test_promote_and_rollback_keep_the_last_known_good_and_are_audited(station, tmp_path):
    b = variant(station, tmp_path, "B")
    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        b_pkg, _ = registry.install(b, "quality")
        assert registry.production_paths() == [bundled_model(station)], "nothing promoted: the configured model runs"
        registry.promote(a.label, "quality", reason="baseline", force=True)
        registry.promote(b_pkg.package_id[:10], "quality", reason="better on scratches", force=True)
        slot = registry.describe_slots()[0]
        assert (slot["label"], slot["last_known_good"], slot["promoted_by"]) == (b_pkg.label, a.label, "quality")
        assert registry.production_paths() == [registry.onnx_path(b_pkg.package_id)]
        with pytest.raises(ModelError, match="already the production model"):
            registry.promote(b_pkg.label, "quality", reason="again", force=True)
        assert registry.rollback("admin", reason="operators report escapes") == a.label
        assert registry.production_paths() == [registry.onnx_path(a.package_id)]
        assert registry.rollback("admin", reason="back to the config") == "the configured model"
        assert registry.production_paths() == [bundled_model(station)]
        with pytest.raises(ModelError, match="no earlier production model"):
            registry.rollback("admin", reason="again")
        with pytest.raises(ModelError, match="no model slot 'additional-1'"):
            registry.promote(a.label, "quality", slot="additional-1", reason="x", force=True)
    with open_audit_trail(station) as trail:
        actions = [(e.action, e.user, e.after.get("label")) for e in trail.entries() if e.action.startswith("model_")]
        assert trail.verify() is None
    assert actions == [
        ("model_install", "quality", a.label), ("model_install", "quality", b_pkg.label),
        ("model_promote", "quality", a.label), ("model_promote", "quality", b_pkg.label),
        ("model_rollback", "admin", a.label), ("model_rollback", "admin", "the configured model"),
    ]


def test_a_package_changed_inside_the_registry_is_not_promoted(station, tmp_path):
    with ModelRegistry(station) as registry:
        a, _ = registry.install(variant(station, tmp_path, "A"), "quality")
        meta_file = registry.onnx_path(a.package_id).with_suffix(".json")
        os.chmod(meta_file, 0o600)
        meta = json.loads(meta_file.read_text())
        meta["class_thresholds"] = {c: 2.0 for c in meta["classes"]}
        meta_file.write_text(json.dumps(meta))
        with pytest.raises(ModelError, match="is not promoted: .*changed after it was signed"):
            registry.promote(a.label, "quality", reason="x", force=True)
        assert registry.production_paths() == [bundled_model(station)]


def test_the_production_pointer_is_owner_only_and_a_hand_edit_is_refused(station, tmp_path):
    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        b_pkg, _ = registry.install(variant(station, tmp_path, "B"), "quality")
        registry.promote(a.label, "quality", reason="x", force=True)
        pointer = registry.pointer_path
        assert stat.S_IMODE(pointer.stat().st_mode) == 0o600
        document = json.loads(pointer.read_text())
        document["slots"]["primary"]["package"] = b_pkg.package_id  # someone points the line at B by hand
        pointer.write_text(json.dumps(document))
        with pytest.raises(ModelError, match="does not carry the station's seal"):
            registry.production()
        os.chmod(pointer, 0o644)
        with pytest.raises(ModelError, match="must be owner-only"):
            registry.production()


def test_the_cli_lists_installs_shows_and_orders_a_shadow_run(station, tmp_path, capsys):
    from inspector.cli import main
    from inspector.config import write_config

    config_file = tmp_path / "station.yaml"
    write_config(station, config_file)
    b = variant(station, tmp_path, "B")
    assert main(["model", "install", str(b), "--config", str(config_file), "--user", "quality"]) == 0
    assert "installed: " in capsys.readouterr().out
    assert main(["model", "install", str(variant(station, tmp_path, "unsigned", sign=False)), "--config", str(config_file)]) == 2
    assert "not installed: " in capsys.readouterr().err
    assert main(["model", "list", "--config", str(config_file)]) == 0
    listed = capsys.readouterr().out
    label = json.loads(b.with_suffix(".json").read_text())["name"] + "@B"
    assert "primary        the configured model" in listed and label in listed and "quality" in listed
    assert main(["model", "show", label, "--config", str(config_file)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["label"] == label and shown["installed_by"] == "quality" and shown["family"] == "yolo"
    assert main(["model", "shadow", label, "--parts", "50", "--config", str(config_file), "--user", "quality"]) == 0
    assert "ordered" in capsys.readouterr().out
    assert main(["model", "shadow", "--status", "--config", str(config_file)]) == 0
    assert f"{label} for 50 parts" in capsys.readouterr().out
    assert main(["model", "shadow", "--stop", "--config", str(config_file)]) == 0
    assert main(["model", "rollback", "--reason", "nothing to go back to", "--config", str(config_file)]) == 2
    assert "no earlier production model" in capsys.readouterr().err


def test_a_rollback_signed_on_the_hmi_needs_the_pin_a_quality_or_admin_role_and_a_reason(station, tmp_path):
    from hmi.roles import LoginFailed
    from hmi.users import UserDirectory
    from inspector.modelops.signed_actions import rollback_signed
    from inspector.records.station import StationDatabase

    with ModelRegistry(station) as registry:
        a, _ = registry.install(bundled_model(station), "quality")
        b, _ = registry.install(variant(station, tmp_path, "B"), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        registry.promote(b.label, "quality", reason="trial", force=True)
        db = StationDatabase(station.recorder.database)
        accounts = UserDirectory(db, registry.trail, iterations=1000)
        accounts.add("olga", "operator", "1111")
        accounts.add("quinn", "quality", "2222")
        with pytest.raises(LoginFailed):
            rollback_signed(registry, accounts, "quinn", "9999", "escapes")
        with pytest.raises(ModelError, match="olga \\(operator\\) may not roll back"):
            rollback_signed(registry, accounts, "olga", "1111", "escapes")
        with pytest.raises(ModelError, match="needs a reason"):
            rollback_signed(registry, accounts, "quinn", "2222", " ")
        assert registry.describe_slots()[0]["label"] == b.label, "nothing rolled back so far"
        assert rollback_signed(registry, accounts, "quinn", "2222", "escapes reported") == a.label
        db.conn.close()
    with open_audit_trail(station) as trail:
        entry = trail.latest("model_rollback")
        denied = trail.latest("model_rollback_denied")
    assert entry.user == "quinn" and entry.after["signature"] == "PIN re-entered" and entry.after["reason"] == "escapes reported"
    assert denied.user == "olga"

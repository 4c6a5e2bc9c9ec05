"""Model package signatures: what verifies, what is refused and why, and the last-known-good set."""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
from pathlib import Path

import pytest

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import ModelError
from inspector.model_signing import (
    generate_key_pair,
    load_trusted_keys,
    sign_package,
    signature_path,
    verify_package,
)
from inspector.model_trust import station_models

BUNDLED = Path(load_config(DEFAULT_CONFIG).detector.model)


@pytest.fixture
def package(tmp_path) -> Path:
    folder = tmp_path / "pkg"
    folder.mkdir()
    for suffix in (".onnx", ".json"):
        shutil.copyfile(BUNDLED.with_name(f"model{suffix}"), folder / f"model{suffix}")
    return folder / "model.onnx"


@pytest.fixture
def keys(tmp_path) -> tuple[Path, Path]:
    return generate_key_pair(tmp_path / "keys", "quality")


def test_a_signed_package_verifies_and_names_its_signer(package, keys):
    private, public = keys
    sign_package(package, private, "quality@plant-3")
    check = verify_package(package, load_trusted_keys([str(public)]))
    assert check.signer == "quality@plant-3" and check.key_path == public and check.signed_at > 0


def test_the_private_key_is_readable_by_its_owner_only_and_never_overwritten(keys, tmp_path):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with pytest.raises(ModelError, match="exists already"):
        generate_key_pair(tmp_path / "keys", "quality")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-10] + b"0123456789"), "model file .* changed after it was signed"),
        (lambda p: p.with_suffix(".json").write_text(p.with_suffix(".json").read_text().replace("0.0722", "0.99")),
         "metadata .* changed after it was signed"),
        (lambda p: signature_path(p).write_text(signature_path(p).read_text().replace('"onnx_sha256": "', '"onnx_sha256": "0')),
         "the signature file was altered"),
        (lambda p: signature_path(p).unlink(), "is not signed"),
        (lambda p: signature_path(p).write_text("{not json"), "unreadable or malformed"),
    ],
)
def test_any_change_after_signing_is_refused_saying_what_changed(package, keys, tamper, reason):
    private, public = keys
    sign_package(package, private, "quality")
    tamper(package)
    with pytest.raises(ModelError, match=reason):
        verify_package(package, load_trusted_keys([str(public)]))


def test_a_signature_by_a_key_the_station_does_not_trust_is_refused(package, keys, tmp_path):
    intruder, _ = generate_key_pair(tmp_path / "other", "intruder")
    sign_package(package, intruder, "intruder")
    with pytest.raises(ModelError, match="which this station does not trust"):
        verify_package(package, load_trusted_keys([str(keys[1])]))


def test_a_trusted_key_folder_and_a_bad_key_file(keys, tmp_path):
    assert len(load_trusted_keys([str(keys[1].parent)])) == 1
    bad = tmp_path / "bad.public.pem"
    bad.write_text("not a key")
    with pytest.raises(ModelError, match="not a PEM public key"):
        load_trusted_keys([str(bad)])


def station(tmp_path: Path, model: Path, public: Path):
    config = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        config,
        station=dataclasses.replace(config.station, state_dir=str(tmp_path / "state")),
        detector=dataclasses.replace(config.detector, model=str(model), trusted_keys=[str(public)]),
    )


def test_the_station_keeps_the_last_good_set_and_falls_back_to_it_when_the_configured_one_is_refused(package, keys, tmp_path):
    private, public = keys
    sign_package(package, private, "quality")
    config = station(tmp_path, package, public)
    first = station_models(config)
    assert not first.fallback and first.detector.model == str(package)
    meta = json.loads(package.with_suffix(".json").read_text())
    package.with_suffix(".json").write_text(json.dumps({**meta, "class_thresholds": {c: 2.0 for c in meta["classes"]}}))
    second = station_models(config)
    assert second.fallback and "changed after it was signed" in second.refused
    assert Path(second.detector.model).parent.parent == tmp_path / "state" / "last-known-good"
    kept = json.loads(Path(second.detector.model).with_suffix(".json").read_text())
    assert kept["class_thresholds"] == meta["class_thresholds"]  # the kept copy is the signed original


def test_without_a_last_known_good_set_a_refused_model_stops_the_detector(package, keys, tmp_path):
    with pytest.raises(ModelError, match="is not signed.*no usable last-known-good"):
        station_models(station(tmp_path, package, keys[1]))

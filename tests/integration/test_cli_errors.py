"""A bad station config stops the line at start, naming the field."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("cameras: [{name: top}]\ndetector: {model: m.onnx}\nactuator: {budget_ms: -5}\n", "actuator.budget_ms"),
        ("cameras: [{name: top, rate_hz: fast}]\ndetector: {model: m.onnx}\n", "cameras[0].rate_hz"),
        ("cameras: [{name: top}]\ndetector: {model: m.onnx}\nplc: {adress: 1.2.3.4}\n", "plc.adress"),
        ("cameras: [{name: top}]\n", "detector"),
    ],
)
def test_run_with_a_bad_config_exits_with_the_field_named(tmp_path, yaml_text, expected):
    config = tmp_path / "station.yaml"
    config.write_text(yaml_text)
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert f"config field '{expected}'" in run.stderr


@pytest.mark.parametrize(
    "signed, expected",
    [(True, "changed after it was signed by 'inspector release"), (False, "the file was changed or truncated")],
    ids=["signature-checked", "hash-checked"],
)
def test_a_model_whose_file_does_not_match_its_metadata_is_refused(tmp_path, signed, expected):
    from inspector.config import DEFAULT_CONFIG, load_config

    model = load_config(DEFAULT_CONFIG).detector.model
    onnx = tmp_path / "model.onnx"
    data = bytearray(open(model, "rb").read())
    data[-10] ^= 0xFF
    onnx.write_bytes(bytes(data))
    (tmp_path / "model.json").write_text(open(model.replace(".onnx", ".json")).read())
    (tmp_path / "model.sig.json").write_text(open(model.replace(".onnx", ".sig.json")).read())
    config = tmp_path / "station.yaml"
    # A config that names no trusted key trusts the project's release key, which signed the bundled model.
    config.write_text(
        f"cameras: [{{name: top}}]\ndetector: {{model: {onnx}, require_signed_models: {str(signed).lower()}}}\n"
    )
    subprocess.run([sys.executable, "-m", "inspector", "keys", "init", "--config", str(config)], check=True)
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "service", "detector", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2
    assert expected in run.stderr

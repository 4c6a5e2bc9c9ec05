"""A station loads only signed model packages; a forged one is refused with an alarm and the line keeps deciding.

The attack the signatures stop: a package that never rejects (its thresholds
raised past any score), with its sha256 in order, dropped where the station's
config points. Here the real line runs it: the detector refuses it, raises a
critical alarm that reaches the recorder, and decides every part with the
last-known-good model it ran before.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import ServiceError
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.model_signing import generate_key_pair, sign_package, signature_path
from inspector.model_trust import lkg_folder
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def forged_copy(tmp_path: Path) -> Path:
    """The bundled model, its signature copied along, its thresholds raised so that it passes every part."""
    source = Path(load_config(DEFAULT_CONFIG).detector.model)
    folder = tmp_path / "forged"
    folder.mkdir()
    for suffix in (".onnx", ".json", ".sig.json"):
        shutil.copyfile(source.with_name(f"model{suffix}"), folder / f"model{suffix}")
    meta = json.loads((folder / "model.json").read_text())
    meta["class_thresholds"] = {c: 2.0 for c in meta["classes"]}  # no probability reaches 2: nothing is rejected
    (folder / "model.json").write_text(json.dumps(meta))
    return folder / "model.onnx"


def test_a_forged_model_is_refused_alarmed_and_the_line_runs_the_last_known_good_one(line_config, tmp_path):
    good = line_config(parts=6, rate_hz=10)
    with running_line(good, tmp_path / "first"):
        wait_until(lambda: len(part_rows(good)) >= 6, 90, "6 parts decided by the signed model")
    assert (lkg_folder(good) / "manifest.json").is_file()
    label = part_rows(good)[0]["model_version"]

    forged = dataclasses.replace(good, detector=dataclasses.replace(good.detector, model=str(forged_copy(tmp_path))))
    forged = dataclasses.replace(forged, cameras=[dataclasses.replace(c, max_parts=30) for c in forged.cameras])
    with running_line(forged, tmp_path / "second"):
        rows = wait_until(lambda: len(part_rows(forged)) >= 30 and part_rows(forged), 120, "30 parts decided")
        alarms = wait_until(lambda: [a for a in alarm_rows(forged) if a["code"] == "model_refused"], 30, "the refusal alarm")
    assert alarms[0]["severity"] == "critical" and "changed after it was signed" in alarms[0]["text"]
    assert "last-known-good" in alarms[0]["text"]
    assert {r["model_version"] for r in rows} == {label}  # the signed model decided, not the forged one
    assert {r["source"] for r in rows} == {"verdict"}
    assert any(r["result"] == "REJECT" for r in rows)  # and it still rejects defective parts


def test_a_package_signed_by_an_untrusted_key_is_refused_and_without_a_fallback_the_line_does_not_start(line_config, tmp_path):
    config = line_config(parts=5, rate_hz=10, budget_ms=300)
    model = tmp_path / "mine" / "model.onnx"
    model.parent.mkdir()
    source = Path(config.detector.model)
    for suffix in (".onnx", ".json"):
        shutil.copyfile(source.with_name(f"model{suffix}"), model.with_name(f"model{suffix}"))
    private, _ = generate_key_pair(tmp_path / "keys", "intruder")
    sign_package(model, private, "intruder")
    assert signature_path(model).is_file()
    config = dataclasses.replace(config, detector=dataclasses.replace(config.detector, model=str(model)))
    with pytest.raises(ServiceError, match=r"no camera was started: detector:0: .*does not trust"):
        with running_line(config, tmp_path) as supervisor:
            wait_until(lambda: supervisor.failed, 120, "the start to be refused")
    alarms = [a for a in alarm_rows(config) if a["code"] == "model_refused"]
    assert "which this station does not trust" in alarms[0]["text"] and "no usable last-known-good" in alarms[0]["text"]
    assert part_rows(config) == [], "no camera, no part: nothing was passed without a trusted model"


def test_another_release_signed_by_the_same_key_at_the_configured_path_is_refused_and_the_released_one_decides(
        line_config, tmp_path):
    from inspector.model_pins import identify
    from tests.modelops.packages import trusting_test_key, variant

    station = trusting_test_key(line_config(parts=6, rate_hz=10), tmp_path)
    released, other = variant(station, tmp_path, "2.0"), variant(station, tmp_path, "2.1", class_thresholds={"scratch": 2.0})
    path = tmp_path / "line3" / "model.onnx"
    path.parent.mkdir()
    for suffix in (".onnx", ".json", ".sig.json"):
        shutil.copyfile(released.with_name(f"model{suffix}"), path.with_name(f"model{suffix}"))
    first = dataclasses.replace(station, detector=dataclasses.replace(station.detector, model=str(path)))
    with running_line(first, tmp_path / "first"):
        wait_until(lambda: len(part_rows(first)) >= 6, 90, "6 parts decided by the released model")
    kept = (lkg_folder(first) / "manifest.json").read_text()

    for suffix in (".onnx", ".json", ".sig.json"):  # the same key's other release put where the config points
        shutil.copyfile(other.with_name(f"model{suffix}"), path.with_name(f"model{suffix}"))
    second = dataclasses.replace(first, cameras=[dataclasses.replace(c, max_parts=20) for c in first.cameras])
    with running_line(second, tmp_path / "second"):
        rows = wait_until(lambda: len(part_rows(second)) >= 20 and part_rows(second), 120, "20 parts decided")
        alarms = wait_until(lambda: [a for a in alarm_rows(second) if a["code"] == "model_refused"], 30, "the refusal alarm")
    assert alarms[0]["severity"] == "critical" and "last-known-good" in alarms[0]["text"]
    assert f"expected {identify(released).label}" in alarms[0]["text"] and f"found {identify(other).label}" in alarms[0]["text"]
    judged = {r["model_version"] for r in rows if r["source"] == "verdict"}  # (a loaded machine may fail some safe)
    assert judged == {identify(released).label}, "the released model judged every part it judged, the other release none"
    assert (lkg_folder(second) / "manifest.json").read_text() == kept, "the other release never became last-known-good"

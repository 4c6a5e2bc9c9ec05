"""``inspector retrain`` on a real line's reviewed parts: dataset version, a (tiny) real training, export,
signature, install, gate on the golden set; no shadow for a candidate that fails its gate, and no promotion."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from calibration.station import open_audit_trail
from inspector.cli import main
from inspector.config import write_config
from inspector.line_runner import part_rows, running_line
from inspector.modelops.registry import ModelRegistry
from inspector.modelops.shadow import read_order
from inspector.records.parts import Box
from inspector.records.station import StationDatabase
from inspector.synthetic.parts import PartGenerator, parse_source
from tests.helpers import wait_until
from tests.modelops.packages import signing_key, trusting_test_key

pytestmark = pytest.mark.slow

TINY_RUN = "model: yolov8n.yaml\nimgsz: 64\nepochs: 1\nbatch: 2\ndevice: cpu\nworkers: 0\n"


def review_every_part(config) -> int:
    """A quality engineer labels each recorded part as it really is (the synthetic generator's truth)."""
    db = StationDatabase(config.recorder.database)
    rows = part_rows(config)
    for row in rows:
        seed, rate, index = parse_source(row["frame_source"])
        defects = PartGenerator(config.cameras[0].width, config.cameras[0].height, rate, seed).part(index).defects
        boxes = [Box.of(d.cls, tuple(float(v) for v in d.box)) for d in defects]
        db.save_label((row["camera"], row["part_id"]), "defective" if boxes else "good", boxes, "quality")
    db.close()
    return len(rows)


def test_retrain_turns_reviewed_parts_into_an_installed_gated_candidate_and_leaves_promotion_to_a_person(line_config, tmp_path, capsys):
    config = trusting_test_key(line_config(parts=20, rate_hz=8), tmp_path)
    config = dataclasses.replace(config, recorder=dataclasses.replace(config.recorder, sample_passes=1.0))
    with running_line(config, tmp_path / "run"):
        wait_until(lambda: len(part_rows(config)) >= 20, 120, "20 decided parts")
    assert review_every_part(config) == 20
    with ModelRegistry(config) as registry:
        registry.golden().add_reviewed(Path(config.recorder.database), "quality")
        registry.golden().build("quality")
    config_file, run_file = tmp_path / "station.yaml", tmp_path / "run.yaml"
    write_config(config, config_file)
    run_file.write_text(TINY_RUN)
    private, _ = signing_key(tmp_path)

    code = main(["retrain", "--config", str(config_file), "--run-config", str(run_file), "--work-dir", str(tmp_path / "retrain"),
                 "--sign-key", str(private), "--signer", "quality@test", "--shadow-parts", "50", "--user", "quality"])
    out = capsys.readouterr().out
    assert code == 1 and "gate FAILED" in out, "a one-epoch 64-pixel model does not beat production"
    with ModelRegistry(config) as registry:
        [candidate] = registry.packages()
        assert candidate.installed_by == "quality" and candidate.signer == "quality@test"
        assert registry.describe_slots()[0]["label"] == "the configured model", "nothing was promoted"
        assert read_order(registry) is None, "a candidate that failed its gate is not shadowed"
    manifest = json.loads(next((tmp_path / "retrain" / "datasets").glob("reviewed-*/manifest.json")).read_text())
    assert len(manifest["images"]) == 20
    report = Path(out.split("gate FAILED: ")[1].splitlines()[0])
    assert report.is_file() and report.with_suffix(".json").is_file()
    with open_audit_trail(config) as trail:
        assert trail.latest("model_retrain").after["images"] == 20
        assert trail.latest("model_gate").after["passed"] is False

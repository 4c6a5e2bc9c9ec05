"""Triage: parts of a real line run whose scores lie close to a reject threshold are queued, least certain first."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.config import write_config
from inspector.line_runner import part_rows, running_line
from inspector.modelops.triage import uncertain_parts
from inspector.records.station import StationDatabase
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def test_uncertain_parts_are_queued_by_distance_to_their_threshold_and_leave_the_queue_once_labelled(line_config, tmp_path, capsys):
    config = line_config(parts=30, rate_hz=8)
    config = dataclasses.replace(config, recorder=dataclasses.replace(config.recorder, sample_passes=1.0))
    with running_line(config, tmp_path / "run"):
        wait_until(lambda: len(part_rows(config)) >= 30, 120, "30 decided parts")
    meta = json.loads(Path(config.detector.model).with_suffix(".json").read_text())
    thresholds = {c: max(meta["class_thresholds"].get(c, 0.0), config.detector.families.yolo.min_confidence) for c in meta["classes"]}

    everything = uncertain_parts(config, band=1.0)
    with_findings = [r for r in part_rows(config) if json.loads(r["detections"])]
    assert len(everything) == len(with_findings) > 0, "with the widest band every part with a finding is queued"
    assert [p.uncertainty for p in everything] == sorted(p.uncertainty for p in everything)
    for p in everything:
        assert p.threshold == pytest.approx(thresholds[p.cls]) and p.uncertainty == pytest.approx(abs(p.score - p.threshold))
        assert Path(p.image_path).is_file()
    narrow = everything[len(everything) // 2].uncertainty
    assert uncertain_parts(config, band=narrow) == [p for p in everything if p.uncertainty <= narrow]

    first = everything[0]
    db = StationDatabase(config.recorder.database)
    db.save_label((first.camera, first.part_id), "good", [], "quality")
    db.conn.close()
    assert (first.camera, first.part_id) not in {(p.camera, p.part_id) for p in uncertain_parts(config, band=1.0)}

    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    assert main(["model", "triage", "--band", "1", "--config", str(config_file)]) == 0
    assert f"{len(everything) - 1} part(s) to review" in capsys.readouterr().out

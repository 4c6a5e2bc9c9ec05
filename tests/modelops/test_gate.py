"""The golden set and the gate: a candidate is promoted only if, on the station's golden set, it misses no defect
production catches, keeps false rejects within production's plus the tolerance, and passes every challenge part.

Real models: the bundled detector as production; a copy with its thresholds raised so far that defects get
through; a copy that decides exactly as production does. Real synthetic parts, a real dataset import, a real
recorder database with a part labelled on the review screen.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from calibration.station import open_audit_trail
from inspector.cli import main
from inspector.config import write_config
from inspector.datasets_tool import ImportOptions, import_dataset
from inspector.errors import ModelError
from inspector.modelops.gate import run_gate
from inspector.modelops.golden import GoldenSetError
from inspector.modelops.registry import ModelRegistry, passing_gate
from inspector.records.parts import Box
from inspector.records.station import StationDatabase
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
from inspector.synthetic.parts import PartGenerator
from tests.modelops.packages import bundled_model, trusting_test_key, variant

SEED = 7301  # neither the training data's nor the demo camera's parts


def part_images(folder: Path, generator: PartGenerator, indices: list[int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in indices:
        path = folder / f"part_{index}.png"
        cv2.imwrite(str(path), generator.part(index).image)
        paths.append(path)
    return paths


def first(generator: PartGenerator, defective: bool, count: int, start: int) -> list[int]:
    found, index = [], start
    while len(found) < count:
        if generator.is_defective(index) == defective:
            found.append(index)
        index += 1
    return found


@pytest.fixture
def station(line_config, tmp_path):
    config = trusting_test_key(line_config(), tmp_path)
    generator = PartGenerator(seed=SEED)
    # a dataset split
    write_yolo_dataset(tmp_path / "src", generator, [SplitSpec("test", 0, 16)])
    dataset = import_dataset(tmp_path / "src", tmp_path / "dataset", ImportOptions("yolo", keep_source_splits=True)).path
    # challenge parts
    part_images(tmp_path / "challenge-bad", generator, first(generator, True, 2, 100))
    part_images(tmp_path / "challenge-good", generator, first(generator, False, 1, 100))
    # a part the quality engineer labelled on the review screen, with its stored image
    [reviewed] = part_images(tmp_path / "images", generator, first(generator, True, 1, 200))
    hmi = StationDatabase(config.recorder.database)
    hmi.conn.execute("INSERT INTO parts (camera, part_id, result, image_path) VALUES ('top', 1, 'PASS', ?)", (str(reviewed),))
    hmi.conn.commit()
    hmi.save_label(("top", 1), "defective", [Box.of("scratch", (10, 10, 40, 40))], "quality")
    hmi.conn.close()
    with ModelRegistry(config) as registry:
        golden = registry.golden()
        assert golden.add_dataset_split(dataset, "test", "quality") == 16
        assert golden.add_challenge_folder(tmp_path / "challenge-bad", "reject", "quality") == 2
        assert golden.add_challenge_folder(tmp_path / "challenge-good", "pass", "quality") == 1
        assert golden.add_reviewed(Path(config.recorder.database), "quality") == 1
        golden.build("quality")
    return config


def lenient(config, tmp_path) -> Path:
    """The bundled model with every threshold raised past what it scores: defects get through."""
    meta = json.loads(bundled_model(config).with_suffix(".json").read_text())
    return variant(config, tmp_path, "lenient", class_thresholds={c: 0.999 for c in meta["classes"]})


def test_golden_set_versions_hold_every_source_with_its_label(station):
    with ModelRegistry(station) as registry:
        golden = registry.golden()
        [version] = golden.versions()
        assert golden.draft() == []
        with pytest.raises(GoldenSetError, match="draft is empty"):
            golden.build("quality")
    counts = version.counts()
    assert counts["items"] == 20 and counts["challenge"] == 3
    origins = {i.origin for i in version.items}
    assert origins == {"dataset", "challenge", "reviewed"}
    reviewed = [i for i in version.items if i.origin == "reviewed"]
    assert reviewed[0].label == "defective" and reviewed[0].classes == ("scratch",) and reviewed[0].source == "part:top:1"
    assert all(golden.image_path(i).is_file() for i in version.items)
    assert version.version.startswith("golden-v1-")


def test_a_candidate_that_lets_defects_through_fails_the_gate_and_is_not_promoted_without_force(station, tmp_path):
    with ModelRegistry(station) as registry:
        candidate, _ = registry.install(lenient(station, tmp_path), "quality")
        with pytest.raises(ModelError, match="never gated"):
            registry.promote(candidate.label, "quality")
        report, path = run_gate(registry, registry.golden(), candidate.label, "quality")
        assert not report.passed
        assert report.missed_defects and report.counts["candidate_caught"] < report.counts["production_caught"]
        assert set(report.challenge_failures) == {i.source for i in registry.golden().latest().items
                                                  if i.origin == "challenge" and i.expect == "reject"}
        assert path.is_file() and path.with_suffix(".md").is_file()
        assert "FAILED" in path.with_suffix(".md").read_text() and json.loads(path.read_text())["passed"] is False
        with pytest.raises(ModelError, match="failed its gate: misses"):
            registry.promote(candidate.label, "quality")
        with pytest.raises(ModelError, match="needs a reason"):
            registry.promote(candidate.label, "quality", force=True)
        registry.promote(candidate.label, "quality", reason="trial on line 3 agreed with the plant manager", force=True)
    with open_audit_trail(station) as trail:
        gate = trail.latest("model_gate")
        promote = trail.latest("model_promote")
    assert gate.after["passed"] is False and gate.target == candidate.package_id
    assert promote.after["forced"] is True and promote.after["reason"].startswith("trial")


def test_a_candidate_deciding_as_production_does_passes_and_is_promoted_and_a_new_production_needs_a_new_gate(station, tmp_path):
    with ModelRegistry(station) as registry:
        same, _ = registry.install(variant(station, tmp_path, "same-decisions"), "quality")
        other, _ = registry.install(lenient(station, tmp_path), "quality")
        report, _ = run_gate(registry, registry.golden(), same.label, "quality")
        assert report.passed, report.reasons
        assert report.counts["candidate_caught"] == report.counts["production_caught"] > 0
        assert report.counts["candidate_false_rejects"] == report.counts["production_false_rejects"]
        assert len(report.candidate_scores) == 20
        run_gate(registry, registry.golden(), other.label, "quality")
        registry.promote(same.label, "quality")
        assert registry.describe_slots()[0]["label"] == same.label
        assert passing_gate(registry, registry.golden(), other.package_id, "primary")[1].startswith(
            "its gate ran against another production model")
    with open_audit_trail(station) as trail:
        promote = trail.latest("model_promote")
    assert promote.after["forced"] is False and promote.after["gate_golden_version"].startswith("golden-v1-")


def test_the_cli_gates_and_lists(station, tmp_path, capsys):
    config_file = tmp_path / "station.yaml"
    write_config(station, config_file)
    assert main(["golden", "list", "--config", str(config_file)]) == 0
    listed = capsys.readouterr().out
    assert "golden-v1-" in listed and "20 images" in listed and "3 challenge" in listed
    candidate = lenient(station, tmp_path)
    assert main(["model", "install", str(candidate), "--config", str(config_file), "--user", "quality"]) == 0
    assert main(["model", "gate", _label(candidate), "--config", str(config_file), "--user", "quality"]) == 1
    out = capsys.readouterr().out
    assert "gate FAILED" in out and "misses" in out and "report: " in out
    assert main(["model", "promote", _label(candidate), "--config", str(config_file)]) == 2
    assert "failed its gate" in capsys.readouterr().err


def _label(onnx: Path) -> str:
    meta = json.loads(onnx.with_suffix(".json").read_text())
    return f"{meta['name']}@{meta['version']}"

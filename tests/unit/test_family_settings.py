"""Each model family's station settings: ``detector.families.<family>``, typed and checked when the config loads.

The YOLO family's ``iou_threshold`` and ``min_confidence`` lived in ``detector`` itself before; a config that
still sets them there loads the same, with one warning naming the new place. (That they reach the decoder of a
real package: ``tests/unit/test_bench_engine.py``.)
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import yaml

from inspector.config import DEFAULT_CONFIG, Config, config_from_dict, load_config, write_config
from inspector.config.families import FamilySettings, YoloSettings
from inspector.errors import ConfigError

MOVED_LOGGER = "inspector.config.moved"


def default_data() -> dict:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"]["model"] = str((DEFAULT_CONFIG.parent / data["detector"]["model"]).resolve())
    data["detector"]["trusted_keys"] = [str((DEFAULT_CONFIG.parent / k).resolve()) for k in data["detector"]["trusted_keys"]]
    return data


def load(tmp_path: Path, data: dict) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def refused(tmp_path: Path, data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data)
    return info.value


def new_shape(**yolo: float) -> dict:
    data = default_data()
    data["detector"]["families"] = {"yolo": dict(yolo)}
    return data


def old_shape(**yolo: float) -> dict:
    data = default_data()
    del data["detector"]["families"]
    data["detector"].update(yolo)
    return data


def moved_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == MOVED_LOGGER]


# -- the new place ----------------------------------------------------------------------


def test_the_shipped_default_sets_each_family_s_section_with_its_documented_defaults(caplog):
    with caplog.at_level(logging.WARNING):
        config = load_config(DEFAULT_CONFIG)
    assert config.detector.families == FamilySettings()
    assert config.detector.families.yolo == YoloSettings(iou_threshold=0.7, min_confidence=0.05)
    assert moved_warnings(caplog) == []


def test_a_family_s_settings_load_from_its_section(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        config = load(tmp_path, new_shape(iou_threshold=0.45, min_confidence=0.2))
    assert config.detector.families.yolo == YoloSettings(iou_threshold=0.45, min_confidence=0.2)
    assert config.detector.families.of("yolo") is config.detector.families.yolo
    assert moved_warnings(caplog) == []


def test_a_family_left_out_keeps_its_defaults(tmp_path):
    data = default_data()
    data["detector"]["families"] = {"yolo": {"min_confidence": 0.1}}
    yolo = load(tmp_path, data).detector.families.yolo
    assert yolo == YoloSettings(min_confidence=0.1) and yolo.iou_threshold == 0.7
    del data["detector"]["families"]
    assert load(tmp_path, data).detector.families == FamilySettings()


def test_an_unknown_family_is_refused_naming_its_path_and_the_families(tmp_path):
    data = default_data()
    data["detector"]["families"]["sift"] = {"min_confidence": 0.1}
    err = refused(tmp_path, data)
    assert err.field == "detector.families.sift"
    assert "anomaly, segmentation, yolo" in err.problem


@pytest.mark.parametrize(
    ("family", "key", "field", "allowed"),
    [
        ("yolo", "nms_iou", "detector.families.yolo.nms_iou", "iou_threshold, min_confidence"),
        ("anomaly", "min_confidence", "detector.families.anomaly.min_confidence", "none"),
        ("segmentation", "tiles", "detector.families.segmentation.tiles", "none"),
    ],
)
def test_an_unknown_key_of_a_family_is_refused_naming_its_path_and_the_allowed_keys(tmp_path, family, key, field, allowed):
    data = default_data()
    data["detector"]["families"][family] = {key: 0.1}
    err = refused(tmp_path, data)
    assert err.field == field
    assert f"allowed: {allowed}" in err.problem
    assert field in str(err)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("min_confidence", 1.5, "at most 1"), ("iou_threshold", -0.1, "at least 0"), ("iou_threshold", "tight", "expected a number")],
)
def test_a_bad_family_setting_is_refused_naming_its_path(tmp_path, key, value, words):
    err = refused(tmp_path, new_shape(**{key: value}))
    assert err.field == f"detector.families.yolo.{key}"
    assert words in err.problem


def test_written_config_holds_the_families_and_loads_back_equal_without_a_warning(tmp_path, caplog):
    config = load(tmp_path, old_shape(iou_threshold=0.5, min_confidence=0.25))
    out = tmp_path / "child" / "station.yaml"
    write_config(config, out)
    written = yaml.safe_load(out.read_text())["detector"]
    assert "iou_threshold" not in written and "min_confidence" not in written
    assert written["families"]["yolo"] == {"iou_threshold": 0.5, "min_confidence": 0.25}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_config(out) == config
    assert moved_warnings(caplog) == []


# -- the old place ----------------------------------------------------------------------


def test_the_old_place_loads_the_same_values_with_one_warning_naming_the_new_place(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        old = load(tmp_path / "old", old_shape(iou_threshold=0.45, min_confidence=0.2))
    (warning,) = moved_warnings(caplog)
    assert warning.levelno == logging.WARNING
    text = warning.getMessage()
    assert "detector.iou_threshold is now detector.families.yolo.iou_threshold" in text
    assert "detector.min_confidence is now detector.families.yolo.min_confidence" in text
    assert str(tmp_path / "old" / "station.yaml") in text  # names the file
    assert old == load(tmp_path / "new", new_shape(iou_threshold=0.45, min_confidence=0.2))
    assert old.detector.families.yolo == YoloSettings(iou_threshold=0.45, min_confidence=0.2)


def test_one_setting_at_its_old_place_moves_alone_and_its_sibling_keeps_the_new_place(tmp_path, caplog):
    data = new_shape(iou_threshold=0.6)
    data["detector"]["min_confidence"] = 0.15
    with caplog.at_level(logging.WARNING):
        config = load(tmp_path, data)
    assert config.detector.families.yolo == YoloSettings(iou_threshold=0.6, min_confidence=0.15)
    (warning,) = moved_warnings(caplog)
    assert "detector.min_confidence is now" in warning.getMessage() and "iou_threshold" not in warning.getMessage()


def test_the_same_value_at_both_places_loads_with_the_warning(tmp_path, caplog):
    data = new_shape(min_confidence=0.2)
    data["detector"]["min_confidence"] = 0.2
    with caplog.at_level(logging.WARNING):
        assert load(tmp_path, data).detector.families.yolo.min_confidence == 0.2
    assert len(moved_warnings(caplog)) == 1


def test_different_values_at_both_places_are_refused_naming_both(tmp_path):
    data = new_shape(min_confidence=0.2)
    data["detector"]["min_confidence"] = 0.3
    err = refused(tmp_path, data)
    assert err.field == "detector.min_confidence"
    assert "detector.families.yolo.min_confidence" in err.problem
    assert "0.3" in err.problem and "0.2" in err.problem


def test_a_bad_value_at_the_old_place_is_refused_naming_the_old_path(tmp_path):
    err = refused(tmp_path, old_shape(min_confidence=2))
    assert err.field == "detector.min_confidence"
    assert "at most 1" in err.problem


def test_the_parsed_file_is_not_changed_by_loading_it():
    data = old_shape(iou_threshold=0.5)
    before = copy.deepcopy(data)
    config_from_dict(data, base_dir=DEFAULT_CONFIG.parent)
    assert data == before

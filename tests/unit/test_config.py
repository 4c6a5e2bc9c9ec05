"""Station config: strict typed loading, field-naming errors, path resolution, round trip."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from inspector.config import DEFAULT_CONFIG, Config, load_config, write_config
from inspector.errors import ConfigError, InspectorError


def default_data() -> dict:
    """The shipped default config as plain data, to mutate one field per test."""
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def write_yaml(folder: Path, data: object, name: str = "station.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def load_data(tmp_path: Path, data: object) -> Config:
    return load_config(write_yaml(tmp_path, data))


def rejected_field(tmp_path: Path, data: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_data(tmp_path, data)
    return info.value


# -- the shipped default ------------------------------------------------------------


def test_shipped_default_config_loads_with_its_documented_values():
    config = load_config(DEFAULT_CONFIG)
    assert [c.name for c in config.cameras] == ["top"]
    assert config.actuator.budget_ms == 250.0
    assert config.actuator.failsafe_action == "reject"
    assert config.plc.tags.result.name == "Inspector_Result"
    model = Path(config.detector.model)
    assert model.is_absolute()
    assert model == (DEFAULT_CONFIG.parent / "../models/default/model.onnx").resolve()


def test_config_error_is_an_inspector_error():
    assert issubclass(ConfigError, InspectorError)


# -- unknown keys ---------------------------------------------------------------------


def test_unknown_top_level_key_is_rejected_with_its_field_path(tmp_path):
    data = default_data()
    data["actuatr"] = {"budget_ms": 100}
    err = rejected_field(tmp_path, data)
    assert err.field == "actuatr"
    assert "unknown key" in str(err)


def test_unknown_nested_key_is_rejected_with_its_dotted_path(tmp_path):
    data = default_data()
    data["plc"]["tags"]["result"]["nmae"] = "Inspector_Result"
    err = rejected_field(tmp_path, data)
    assert err.field == "plc.tags.result.nmae"
    assert "name" in err.problem  # the allowed keys are listed, so the typo is obvious


def test_unknown_key_inside_an_optional_section_names_its_full_path(tmp_path):
    data = default_data()
    data["plc"]["tags"]["heartbeat"] = {"nmae": "Inspector_Heartbeat"}
    assert rejected_field(tmp_path, data).field == "plc.tags.heartbeat.nmae"


def test_unknown_key_inside_a_camera_names_the_list_index(tmp_path):
    data = default_data()
    data["cameras"][0]["exposur_us"] = 500
    assert rejected_field(tmp_path, data).field == "cameras[0].exposur_us"


def test_unknown_keys_of_mixed_types_are_still_a_config_error(tmp_path):
    # YAML turns `on:` into the boolean True; next to a misspelt key it must still be a ConfigError
    text = DEFAULT_CONFIG.read_text() + "\non: 1\nstray_key: 2\n"
    err = rejected_field(tmp_path, text)
    assert err.field in {"True", "stray_key"}


# -- wrong types, limits, choices, missing ---------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "field", "words"),
    [
        ("cameras", "rate_hz", "fast", "cameras[0].rate_hz", "expected a number"),
        ("cameras", "max_parts", True, "cameras[0].max_parts", "expected an integer"),
        ("cameras", "width", 640.5, "cameras[0].width", "expected an integer"),
        ("cameras", "loop", "yes please", "cameras[0].loop", "expected true or false"),
        ("actuator", "budget_ms", 0, "actuator.budget_ms", "at least 1"),
        ("cameras", "rate_hz", 501, "cameras[0].rate_hz", "at most 500"),
        ("detector", "iou_threshold", 1.5, "detector.iou_threshold", "at most 1"),
        ("actuator", "failsafe_action", "explode", "actuator.failsafe_action", "'reject'"),
        ("plc", "address", 44818, "plc.address", "expected a string"),
    ],
)
def test_bad_value_is_rejected_naming_its_field(tmp_path, section, key, value, field, words):
    data = default_data()
    target = data[section][0] if section == "cameras" else data[section]
    target[key] = value
    err = rejected_field(tmp_path, data)
    assert err.field == field
    assert words in err.problem
    assert field in str(err)


def test_nan_is_rejected_where_a_number_has_limits(tmp_path):
    # a NaN budget would make every deadline unreachable: no part would ever get its fail-safe
    text = DEFAULT_CONFIG.read_text().replace("budget_ms: 250", "budget_ms: .nan")
    err = rejected_field(tmp_path, text)
    assert err.field == "actuator.budget_ms"


def test_missing_cameras_section_is_rejected(tmp_path):
    data = default_data()
    del data["cameras"]
    err = rejected_field(tmp_path, data)
    assert err.field == "cameras"
    assert "required" in err.problem


def test_empty_camera_list_is_rejected(tmp_path):
    data = default_data()
    data["cameras"] = []
    assert rejected_field(tmp_path, data).field == "cameras"


def test_missing_detector_model_is_rejected(tmp_path):
    data = default_data()
    del data["detector"]["model"]
    err = rejected_field(tmp_path, data)
    assert err.field == "detector.model"
    assert "required" in err.problem


def test_duplicate_camera_names_are_rejected_at_the_second_camera(tmp_path):
    data = default_data()
    data["cameras"].append(copy.deepcopy(data["cameras"][0]))
    err = rejected_field(tmp_path, data)
    assert err.field == "cameras[1].name"
    assert "top" in err.problem


def test_folder_driver_without_a_folder_is_rejected(tmp_path):
    data = default_data()
    data["cameras"][0]["driver"] = "folder"
    assert rejected_field(tmp_path, data).field == "cameras[0].folder"


def test_a_config_that_is_not_a_mapping_is_rejected(tmp_path):
    err = rejected_field(tmp_path, "- just\n- a list\n")
    assert "mapping" in str(err)


# -- the file itself -------------------------------------------------------------------


def test_invalid_yaml_is_a_config_error_naming_the_file(tmp_path):
    path = write_yaml(tmp_path, "cameras: [unclosed\n  detector: {")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not valid YAML" in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "nowhere" / "station.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


def test_a_folder_given_as_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


# -- paths -----------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_files_folder(tmp_path, monkeypatch):
    data = default_data()
    data["detector"]["model"] = "models/m.onnx"
    data["recorder"]["database"] = "data/parts.db"
    data["recorder"]["image_dir"] = "data/images"
    data["station"]["state_dir"] = "../state"
    data["cameras"][0].update(driver="folder", folder="replay")
    config_dir = tmp_path / "site" / "cfg"
    path = write_yaml(config_dir, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter

    config = load_config(path)

    assert config.detector.model == str(config_dir / "models" / "m.onnx")
    assert config.recorder.database == str(config_dir / "data" / "parts.db")
    assert config.recorder.image_dir == str(config_dir / "data" / "images")
    assert config.station.state_dir == str(tmp_path / "site" / "state")
    assert config.cameras[0].folder == str(config_dir / "replay")


def test_tilde_expands_to_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    data = default_data()
    data["recorder"]["database"] = "~/inspector/parts.db"
    config = load_data(tmp_path / "cfg", data)
    assert config.recorder.database == str(home / "inspector" / "parts.db")


def test_absolute_paths_are_kept(tmp_path):
    data = default_data()
    data["detector"]["model"] = str(tmp_path / "abs" / "model.onnx")
    config = load_data(tmp_path / "cfg", data)
    assert config.detector.model == str(tmp_path / "abs" / "model.onnx")


# -- round trip ------------------------------------------------------------------------


def test_written_config_loads_back_equal(tmp_path):
    data = default_data()
    data["detector"]["class_thresholds"] = {"scratch": 0.4}
    data["cameras"].append({"name": "side", "driver": "folder", "folder": "replay", "loop": False})
    config = load_data(tmp_path / "cfg", data)
    out = tmp_path / "run" / "child" / "station.yaml"

    write_config(config, out)

    assert load_config(out) == config


# -- disk space, retention, logs --------------------------------------------------------


def test_disk_retention_and_log_limits_have_documented_defaults(tmp_path):
    config = load_config(DEFAULT_CONFIG)
    assert (config.recorder.disk_space.warning_free_mb, config.recorder.disk_space.critical_free_mb) == (2048, 512)
    assert (config.recorder.retention.keep_passes_days, config.recorder.retention.keep_rejects_days) == (7, 90)
    assert config.recorder.held_rows == 20000 and config.logs.max_mb == 10 and config.logs.backups == 3
    text = DEFAULT_CONFIG.read_text()
    for key in ("disk_space:", "retention:", "held_rows:", "logs:", "repeats_per_minute:", "keep_rejects_days:"):
        assert key in text, f"{key} is in the shipped config with its comment"


@pytest.mark.parametrize("section, key, value, field", [
    ("disk_space", "critical_free_mb", 4096, "recorder.disk_space.critical_free_mb"),
    ("disk_space", "critical_free_percent", 10, "recorder.disk_space.critical_free_percent"),
    ("disk_space", "warning_free_percent", 95, "recorder.disk_space.warning_free_percent"),
    ("retention", "batch", 0, "recorder.retention.batch"),
    ("retention", "max_gb", -1, "recorder.retention.max_gb"),
])
def test_a_bad_disk_limit_or_retention_value_is_refused_naming_its_field(tmp_path, section, key, value, field):
    data = default_data()
    data["recorder"][section][key] = value
    assert rejected_field(tmp_path, data).field == field


def test_a_bad_log_limit_is_refused_naming_its_field(tmp_path):
    data = default_data()
    data["logs"]["max_mb"] = 0
    assert rejected_field(tmp_path, data).field == "logs.max_mb"

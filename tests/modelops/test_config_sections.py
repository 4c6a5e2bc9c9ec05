"""The 'models' and 'drift' config sections: documented defaults, and a bad value names its field."""

from __future__ import annotations

import pytest
import yaml

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import ConfigError


def station_with(tmp_path, **sections):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"]["model"] = str((DEFAULT_CONFIG.parent / data["detector"]["model"]).resolve())
    data["detector"]["trusted_keys"] = [str((DEFAULT_CONFIG.parent / k).resolve()) for k in data["detector"]["trusted_keys"]]
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_defaults_follow_promotions_require_a_gate_and_watch_for_drift(tmp_path):
    config = load_config(station_with(tmp_path, models={"folder": "registry"}))
    assert config.models.follow_production and config.models.require_gate and config.drift.enabled
    assert config.models.folder == str(tmp_path / "registry"), "a relative folder is taken from the config's folder"
    assert load_config(DEFAULT_CONFIG).models.folder is None


@pytest.mark.parametrize("section, values, field", [
    ("models", {"check_interval_s": 0}, "models.check_interval_s"),
    ("models", {"gate_false_reject_tolerance": 2}, "models.gate_false_reject_tolerance"),
    ("models", {"promote_automatically": True}, "models.promote_automatically"),
    ("drift", {"window_parts": 1}, "drift.window_parts"),
    ("drift", {"max_score_psi": "high"}, "drift.max_score_psi"),
    ("drift", {"series_every_parts": -1}, "drift.series_every_parts"),
    ("drift", {"series_points": 2}, "drift.series_points"),
])
def test_a_bad_value_is_refused_naming_its_field(tmp_path, section, values, field):
    with pytest.raises(ConfigError) as err:
        load_config(station_with(tmp_path, **{section: values}))
    assert err.value.field == field

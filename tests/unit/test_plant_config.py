"""The 'plant' section (MQTT publishing, Prometheus metrics): off by default, bad values named by field."""

from __future__ import annotations

import pytest

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.line_keys import missing_keys
from inspector.plant.metrics import all_metrics_ports
from inspector.plant.namespace import client_id, outbox_path, topic_root
from inspector.supervisor import line_processes
from tests.unit.test_config import default_data, load_data, rejected_field


def test_publishing_to_the_plant_is_off_by_default_so_the_demo_needs_no_broker():
    config = load_config(DEFAULT_CONFIG)
    assert not config.plant.mqtt.enabled and not config.plant.metrics.enabled
    assert "publisher" not in [p.name for p in line_processes(config, DEFAULT_CONFIG)]


def test_the_topic_root_client_id_and_outbox_follow_the_station(tmp_path):
    data = default_data()
    data["station"] = {"name": "press-3", "state_dir": "state"}
    data["plant"]["mqtt"]["enabled"] = True
    data["plant"]["mqtt"]["topic"] = {"enterprise": "acme", "site": "berlin", "area": "machining", "line": "l4"}
    config = load_data(tmp_path, data)
    assert topic_root(config) == "acme/berlin/machining/l4/press-3"
    assert client_id(config) == "inspector-press-3"
    assert outbox_path(config) == tmp_path / "state" / "mqtt-outbox.db"
    assert "publisher" in [p.name for p in line_processes(config, tmp_path / "station.yaml")]


@pytest.mark.parametrize(
    "mqtt, field, words",
    [
        ({"topic": {"site": "a/b"}}, "plant.mqtt.topic.site", "one MQTT topic level"),
        ({"topic": {"cell": "#"}}, "plant.mqtt.topic.cell", "one MQTT topic level"),
        ({"port": 0}, "plant.mqtt.port", "at least 1"),
        ({"password_file": "pw"}, "plant.mqtt.password_file", "needs 'plant.mqtt.username'"),
        ({"tls": {"ca_file": "ca.pem", "cert_file": "c.pem"}}, "plant.mqtt.tls", "both 'cert_file' and 'key_file'"),
        ({"outbox": {"max_messages": 0}}, "plant.mqtt.outbox.max_messages", "at least 10"),
        ({"qos": 2}, "plant.mqtt.qos", "unknown"),
    ],
)
def test_a_bad_mqtt_setting_is_refused_naming_its_field(tmp_path, mqtt, field, words):
    data = default_data()
    for key, value in mqtt.items():
        if isinstance(value, dict) and isinstance(data["plant"]["mqtt"].get(key), dict):
            data["plant"]["mqtt"][key].update(value)
        else:
            data["plant"]["mqtt"][key] = value
    err = rejected_field(tmp_path, data)
    assert err.field == field and words in str(err), str(err)


def test_metrics_ports_one_per_process():
    config = load_config(DEFAULT_CONFIG)
    assert all_metrics_ports(config) == {"actuator": 9300, "recorder": 9301, "supervisor": 9303, "detector:0": 9310, "camera:top": 9320}


def test_a_station_installed_before_the_publisher_existed_runs_without_its_key_until_mqtt_is_on(tmp_path):
    from inspector.line_keys import init_keys

    init_keys(tmp_path)
    (tmp_path / "publisher.key").unlink()
    (tmp_path / "publisher.key_secret").unlink()
    assert missing_keys(tmp_path) == []
    assert missing_keys(tmp_path, ("publisher",)) == ["publisher"]

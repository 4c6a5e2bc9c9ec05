"""The publisher service as a command: it refuses a set-up it cannot serve, naming the field."""

from __future__ import annotations

import subprocess


def test_the_publisher_refuses_to_run_with_mqtt_off(tmp_path):
    import sys

    from inspector.config import DEFAULT_CONFIG, load_config, write_config
    from inspector.line_setup import local_line_config

    config_file = tmp_path / "station.yaml"
    write_config(local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False), config_file)
    run = subprocess.run([sys.executable, "-m", "inspector", "service", "publisher", "--config", str(config_file)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert "plant.mqtt.enabled" in run.stderr

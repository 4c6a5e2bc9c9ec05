"""Fixtures of the plant-publishing tests: a real Mosquitto broker, a station whose publisher runs as a process."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.config.schema import Config
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.bench.mosquitto import LocalBroker


@pytest.fixture
def broker(tmp_path: Path):
    b = LocalBroker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def station_config(workdir: Path, name: str, broker: LocalBroker, **mqtt_overrides) -> Config:
    """A station (own folder, free ports, keys installed) publishing to ``broker``."""
    base = load_config(DEFAULT_CONFIG)
    config = local_line_config(base, workdir, simulate_plc=False)
    mqtt = config.plant.mqtt
    outbox = dataclasses.replace(mqtt.outbox, path=str(workdir / "state" / "mqtt-outbox.db"), **mqtt_overrides.pop("outbox", {}))
    mqtt = dataclasses.replace(
        mqtt, enabled=True, port=broker.port, client_id=f"inspector-{name}", outbox=outbox,
        topic=dataclasses.replace(mqtt.topic, enterprise="acme", site="plant1", area="machining", line="line4", cell=name),
        **{"kpi_interval_s": 0.5, "keepalive_s": 5, "reconnect_backoff_max_s": 0.5, **mqtt_overrides},
    )
    config = dataclasses.replace(config, station=dataclasses.replace(config.station, name=name),
                                 plant=dataclasses.replace(config.plant, mqtt=mqtt))
    init_keys(Path(config.security.keys_dir))
    return config


class PublisherProcess:
    """``inspector service publisher`` as its own process, as the supervisor runs it."""

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config_file = workdir / "station.yaml"
        write_config(config, self.config_file)
        self.log = workdir / "publisher.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inspector", "service", "publisher", "--config", str(self.config_file)],
            stdout=subprocess.DEVNULL, stderr=self.log.open("a"),
        )

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.terminate()
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None


@pytest.fixture
def publishers():
    started: list[PublisherProcess] = []

    def make(config: Config, workdir: Path) -> PublisherProcess:
        p = PublisherProcess(config, workdir)
        started.append(p)
        return p

    yield make
    for p in started:
        p.kill()

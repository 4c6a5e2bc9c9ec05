"""One registry of the station's processes: every service in it has a factory, a key, a metrics port and channel ends,
and the supervisor, the keys, the metrics, the alarm board and the CLI take their lists from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inspector.actuator.alarm_keeper import station_owners
from inspector.channels import CHANNELS, channel_ends
from inspector.cli import build_parser
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.line_keys import init_keys, missing_keys
from inspector.plant.metrics import all_metrics_ports, metrics_port
from inspector.service_registry import IDENTITIES, PROCESSES, SERVICES, running
from inspector.services.base import Service
from inspector.services.factory import service_class
from inspector.supervisor import line_processes


def everything_on():
    """The default station with every optional process on, two cameras and two detector instances."""
    config = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        config,
        cameras=[config.cameras[0], dataclasses.replace(config.cameras[0], name="side")],
        detector=dataclasses.replace(config.detector, instances=2),
        plc=dataclasses.replace(config.plc, simulator=True),
        reports=dataclasses.replace(config.reports, at_shift_end=True),
        opcua=dataclasses.replace(config.opcua, enabled=True),
        plant=dataclasses.replace(config.plant, mqtt=dataclasses.replace(config.plant.mqtt, enabled=True)),
        supervisor=dataclasses.replace(config.supervisor, hmi="run"),
    )


def test_every_service_has_a_factory_a_key_a_metrics_port_and_its_channels():
    config = everything_on()
    assert {s.name for s in SERVICES} == {"camera", "detector", "actuator", "recorder", "publisher"}
    for service in SERVICES:
        cls = service_class(service.name)
        assert issubclass(cls, Service) and cls.kind == service.name
        assert service.identity in IDENTITIES
        assert channel_ends(service.identity), f"{service.name} has no end of any channel"
        assert service.metrics_offset is not None
        for instance in service.instance_names(config):
            assert all_metrics_ports(config)[service.process_name(instance)] == metrics_port(config, service.name, instance)


def test_every_identity_has_a_key_and_the_channel_table_names_no_other(tmp_path):
    assert sorted(init_keys(tmp_path)) == sorted(IDENTITIES)
    assert missing_keys(tmp_path) == []
    for channel in CHANNELS.values():
        assert {channel.binder, *channel.connectors} <= set(IDENTITIES), channel.name


def test_each_metrics_endpoint_has_its_own_port():
    ports = all_metrics_ports(everything_on())
    assert len(set(ports.values())) == len(ports)
    assert set(ports) == {"supervisor", "recorder", "actuator", "detector:0", "detector:1", "publisher", "camera:top", "camera:side"}


def test_the_supervisors_processes_come_from_the_registry_in_its_order():
    config = everything_on()
    processes = line_processes(config, Path("station.yaml"))
    assert [p.name for p in processes] == [e.process_name(i) for e, i in running(config) if e.supervised]
    assert {p.entry.name for p in processes} == {e.name for e in PROCESSES if e.supervised}  # every one, when all are on
    for proc in processes:
        assert proc.entry.down_means, f"{proc.name}: what its being down means for the operator"
        assert proc.sends_heartbeats == proc.entry.heartbeats and proc.off_path == proc.entry.off_path
    names = [p.name for p in processes]
    assert names.index("plc-simulator") < names.index("actuator") < names.index("camera:top") < names.index("hmi")


def test_the_alarm_owners_and_the_service_command_come_from_the_registry():
    config = everything_on()
    assert station_owners(config) == {"supervisor", "recorder", "actuator", "detector:0", "detector:1", "publisher",
                                      "camera:top", "camera:side"}
    for service in SERVICES:
        assert build_parser().parse_args(["service", service.name, "--config", "station.yaml"]).name == service.name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["service", "shift-reports", "--config", "station.yaml"])

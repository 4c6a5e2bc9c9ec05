"""One alarm state everywhere: the PLC's alarm tag, Prometheus, MQTT (read with mosquitto_sub and `inspector fleet
status`), OPC UA (read with asyncua's client) and the HMI's feed show the same standing alarm, and all clear when its
cause ends. A real supervised line, a real Mosquitto, a real OPC UA server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest

from inspector.config.schema import PlcTag
from inspector.line_runner import running_line
from inspector.netutil import free_tcp_port
from inspector.opcua.certs import init_certs
from inspector.opcua.server import NAMESPACE
from inspector.plant import namespace as ns
from inspector.plant.metrics import metrics_port
from plc_io.logix import LogixConnection
from tests.helpers import wait_until
from tests.plant.scrape import free_base_port, scrape, total

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def plc_alarms(config) -> int | None:
    conn = LogixConnection(config.plc)
    try:
        return conn.read("Inspector_Alarms")["Inspector_Alarms"]
    except Exception:  # noqa: BLE001
        return None
    finally:
        conn.close()


def mqtt_standing(config, broker) -> list[tuple[str, str]] | None:
    """The retained KPI message's standing alarms, as mosquitto_sub (the broker's own client) receives it."""
    topic = ns.kpi_topic(ns.topic_root(config))
    out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-C", "1", "-W", "5"],
                         capture_output=True, text=True, timeout=15)
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return sorted((a["source"], a["code"]) for a in json.loads(out.stdout)["active_alarms"])


def fleet_alarms(broker) -> str:
    out = subprocess.run([sys.executable, "-m", "inspector", "fleet", "status", "--broker", f"127.0.0.1:{broker.port}"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout


def opcua_state(config) -> str:
    from tests.integration.test_opcua_server import secure_client

    async def read() -> str:
        client = await secure_client(config)
        async with client:
            idx = await client.get_namespace_index(NAMESPACE)
            node = await client.nodes.objects.get_child([f"{idx}:VisionSystem", f"{idx}:VisionStateMachine", f"{idx}:CurrentState"])
            return await node.read_value()

    try:
        return asyncio.run(read())
    except Exception as err:  # noqa: BLE001 - the server still starting
        return f"unreachable: {err}"


def test_a_standing_alarm_reads_the_same_on_every_output_and_clears_on_all(line_config, broker, tmp_path):
    config = line_config(rate_hz=5)
    mqtt = dataclasses.replace(config.plant.mqtt, enabled=True, port=broker.port, kpi_interval_s=0.5, reconnect_backoff_max_s=0.5,
                               outbox=dataclasses.replace(config.plant.mqtt.outbox, path=str(tmp_path / "outbox.db")))
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, base_port=free_base_port())
    opcua = dataclasses.replace(config.opcua, enabled=True, endpoint=f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/",
                                folder=str(tmp_path / "opcua"))
    tags = dataclasses.replace(config.plc.tags, heartbeat=PlcTag("Inspector_Heartbeat"), alarms=PlcTag("Inspector_Alarms"))
    config = dataclasses.replace(config, plant=dataclasses.replace(config.plant, mqtt=mqtt, metrics=metrics), opcua=opcua,
                                 plc=dataclasses.replace(config.plc, tags=tags, heartbeat_period_s=0.2))
    init_certs(config, "scada")
    actuator_port = metrics_port(config, "actuator")

    def everywhere() -> dict[str, object]:
        sample = scrape(actuator_port)
        return {
            "plc": plc_alarms(config),
            "metrics": total(sample, "inspector_alarms_standing", severity="critical"),
            "mqtt": mqtt_standing(config, broker),
            "opcua": opcua_state(config),
        }

    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: supervisor.process("camera:top").last_beat and supervisor.process("publisher").last_beat, 90,
                   "the line and its publisher running")
        wait_until(lambda: everywhere() == {"plc": 0, "metrics": 0, "mqtt": [], "opcua": "ContinuousExecution"}, 60,
                   "every output showing no standing alarm")
        recorder = supervisor.process("recorder")
        os.kill(recorder.process.pid, signal.SIGSTOP)
        try:
            standing = wait_until(
                lambda: (s := everywhere())["mqtt"] == [("recorder", "service_down")] and s["plc"] == 1 and s,
                60, "the recorder's service_down on the PLC and MQTT")
            assert standing["metrics"] == 1 and standing["opcua"] == "Error", standing
            assert "service_down!" in fleet_alarms(broker)
        finally:
            os.kill(recorder.process.pid, signal.SIGCONT)
        wait_until(lambda: everywhere() == {"plc": 0, "metrics": 0, "mqtt": [], "opcua": "ContinuousExecution"}, 60,
                   "every output clear once the recorder is back")
        assert "service_down" not in fleet_alarms(broker)

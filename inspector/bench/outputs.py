"""What publishing to the plant costs a decision (``inspector bench outputs``).

Alternating runs of the line (A/B/A/B): every plant output off, then every
plant output this build's config schema has turned on:

- ``opcua``: the OPC UA server (OPC 40100) beside the line, on a free loopback
  port, with its certificate made in the bench station's folder;
- ``plant.mqtt`` (when the schema has it): the MQTT publisher, to a Mosquitto
  broker the bench starts on loopback for all runs (it runs during the "off"
  runs too, so both arms share the machine with it);
- ``plant.metrics`` (when the schema has it): every service's Prometheus
  endpoint, on a free block of loopback ports.

The outputs that exist are found in the schema at run time, so the bench
works before and after each of them is merged. During each "on" run the
bench checks that each output is really working: an OPC UA client with the
bench's certificate, subscribed to the result-ready events as a SCADA would
be, receives them or reads the last result (:mod:`inspector.bench.opcua_client`); a metrics endpoint
serves; the broker saw the publisher connect. The report
gives trigger-to-PLC p50 on against off and the difference against the
limit of +1 ms.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from inspector.bench.ab_runs import (
    accounting_check,
    alternating_runs,
    compare_arms,
    comparison_table,
    run_summary,
    runs_table,
)
from inspector.bench.line import LineSettings
from inspector.bench.mosquitto import LocalBroker
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.netutil import free_tcp_port

OUTPUTS_P50_DIFFERENCE_MAX_MS = 1.0
OFF, ON = "outputs off", "outputs on"
PROBE_FOR_S = 30.0  # how long an "on" run waits, at most, to see each output working
METRICS_PORTS = 32  # actuator +0, recorder +1, publisher +2, detector i +10+i, camera i +20+i


def outputs_in_schema(config: Config) -> list[str]:
    """The plant outputs this build's config knows: ``opcua``, ``mqtt``, ``metrics``."""
    found = []
    if hasattr(config, "opcua"):
        found.append("opcua")
    plant = getattr(config, "plant", None)
    for name in ("mqtt", "metrics"):
        if plant is not None and hasattr(plant, name):
            found.append(name)
    return found


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now."""
    for _ in range(100):
        base = free_tcp_port()
        if base + count > 65000:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise InspectorError(f"no {count} consecutive free TCP ports on 127.0.0.1")


def _replace_plant(config: Config, **sections: Any) -> Config:
    plant = config.plant
    return dataclasses.replace(config, plant=dataclasses.replace(plant, **sections))


class OutputsHooks:
    """``on``: every output the schema has turned on, and checked while the line runs; off: all of them off."""

    def __init__(self, on: bool, outputs: list[str], broker: LocalBroker | None) -> None:
        self.on, self.outputs, self.broker = on, outputs, broker
        self.seen: dict[str, bool] = {name: False for name in outputs}
        self.metrics_port = 0
        self._first_probe = 0.0
        self.opcua_client = None

    def prepare(self, config: Config, workdir: Path) -> Config:
        on = self.on
        if "opcua" in self.outputs:
            endpoint = f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/"
            config = dataclasses.replace(config, opcua=dataclasses.replace(config.opcua, enabled=on, endpoint=endpoint))
            if on:
                from inspector.opcua.certs import init_certs

                init_certs(config, "bench")  # the server's certificate and a trusted client (its trust store cannot be empty)
        if "mqtt" in self.outputs:
            mqtt = config.plant.mqtt
            mqtt = dataclasses.replace(mqtt, enabled=on, host="127.0.0.1", port=self.broker.port, tls=None, username=None,
                                       password_file=None) if on else dataclasses.replace(mqtt, enabled=False)
            config = _replace_plant(config, mqtt=mqtt)
        if "metrics" in self.outputs:
            metrics = config.plant.metrics
            if on:
                self.metrics_port = free_port_block(METRICS_PORTS)
                metrics = dataclasses.replace(metrics, enabled=True, host="127.0.0.1", base_port=self.metrics_port)
            else:
                metrics = dataclasses.replace(metrics, enabled=False)
            config = _replace_plant(config, metrics=metrics)
        return config

    def during(self, config: Config, decided: int, counters: dict[str, dict[str, int]]) -> bool:
        if not self.on or decided < 1:
            return False
        now = time.monotonic()
        self._first_probe = self._first_probe or now
        if "opcua" in self.outputs and not self.seen["opcua"]:
            if self.opcua_client is None:
                url = urlparse(config.opcua.endpoint)
                if _answers(url.hostname or "127.0.0.1", url.port or 4840):
                    from inspector.bench.opcua_client import SubscribedClient

                    self.opcua_client = SubscribedClient(config)
                    self.opcua_client.start()
            client = self.opcua_client
            self.seen["opcua"] = client is not None and (client.events > 0 or client.last_part_id > 0)
        if "metrics" in self.outputs and not self.seen["metrics"]:
            self.seen["metrics"] = _serves_metrics(f"http://127.0.0.1:{self.metrics_port}/metrics")
        if "mqtt" in self.outputs and not self.seen["mqtt"]:
            self.seen["mqtt"] = self.broker.clients_connected() > 0
        # hold the line until each output was seen working, for a while at most: the report names one that never was
        return not all(self.seen.values()) and now - self._first_probe < PROBE_FOR_S

    def stopping(self, config: Config) -> None:
        if self.opcua_client is not None:
            self.opcua_client.stop()  # before the server stops

    def after(self, config: Config, rows: list[dict], counters: dict[str, dict[str, int]]) -> dict[str, Any]:
        result: dict[str, Any] = {"on": self.on, "enabled": self.outputs if self.on else [], "seen_working": self.seen if self.on else {}}
        if self.opcua_client is not None:
            self.opcua_client.stop()
            c = self.opcua_client
            result["opcua_client"] = {"result_events": c.events, "last_part_id_read": c.last_part_id, "error": c.error}
        if self.broker is not None and self.on:
            result["broker_client_connections"] = self.broker.clients_connected()
        return {"outputs": result}


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _serves_metrics(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200 and b"# TYPE" in response.read()
    except OSError:
        return False


def bench_outputs(base: Config, workdir: Path, settings: LineSettings, runs: int, settle_parts: int = 0,
                  progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    outputs = outputs_in_schema(base)
    with ExitStack() as stack:
        broker = stack.enter_context(LocalBroker(workdir / "mosquitto")) if "mqtt" in outputs else None
        if broker is not None:
            progress(f"mosquitto on 127.0.0.1:{broker.port}")
        arms = {OFF: lambda: OutputsHooks(False, outputs, broker), ON: lambda: OutputsHooks(True, outputs, broker)}
        results = alternating_runs(base, workdir, settings, arms, runs, progress)
    return {
        "parts_per_run": settings.parts, "rate_hz": settings.rate_hz, "outputs": outputs,
        "missing_from_schema": [n for n in ("opcua", "mqtt", "metrics") if n not in outputs],
        "runs": [run_summary(r) for r in results], "comparison": compare_arms(results, OFF, ON, settle_parts),
        "limit_difference_p50_ms": OUTPUTS_P50_DIFFERENCE_MAX_MS,
    }


def outputs_checks(o: dict[str, Any]) -> list[dict[str, Any]]:
    diff = o["comparison"]["trigger_to_plc_write"]["difference_p50_ms"]
    on_runs = [r for r in o["runs"] if r["outputs"]["on"]]
    not_seen = sorted({name for r in on_runs for name, ok in r["outputs"]["seen_working"].items() if not ok})
    return [
        {"check": f"outputs ({', '.join(o['outputs'])}): trigger-to-PLC p50 on − off at {o['rate_hz']:g} parts/s",
         "value": f"{diff} ms", "limit": f"+{OUTPUTS_P50_DIFFERENCE_MAX_MS:g} ms",
         "ok": math.isfinite(diff) and diff <= OUTPUTS_P50_DIFFERENCE_MAX_MS},
        {"check": "outputs: each output seen working in every 'on' run", "value": f"not seen: {not_seen}" if not_seen else "all",
         "limit": ", ".join(o["outputs"]), "ok": not not_seen},
        accounting_check("outputs", o["runs"]),
    ]


def _seen_cell(r: dict[str, Any]) -> str:
    out = r["outputs"]
    cells = [f"{k} {'yes' if v else 'no'}" for k, v in out["seen_working"].items()]
    if "opcua_client" in out:
        c = out["opcua_client"]
        cells.append(f"OPC UA client: {c['result_events']} result events" + (f", error {c['error']}" if c["error"] else ""))
    return "; ".join(cells) or "–"


def outputs_section(o: dict[str, Any]) -> list[str]:
    missing = (f" Not in this build's config schema, so not measured: {', '.join(o['missing_from_schema'])}."
               if o["missing_from_schema"] else "")
    return [
        "## Plant outputs on against off",
        "",
        (f"Alternating runs of the line ({o['parts_per_run']} parts each at {o['rate_hz']:g} parts/s): every plant output off, "
        f"then on: {', '.join(o['outputs'])}.{missing} The MQTT broker (if any) runs on loopback during all runs."),
        "",
        *runs_table(o["runs"], _seen_cell, "seen working"),
        "",
        *comparison_table(o["comparison"], OFF, ON),
        "",
        f"Limit: trigger-to-PLC p50 with the outputs on at most {o['limit_difference_p50_ms']:g} ms above the p50 with them off.",
        "",
    ]

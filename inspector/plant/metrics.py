"""Prometheus metrics: each service of the line serves its own ``/metrics`` (``plant.metrics``).

Why one endpoint per process rather than prometheus_client's multiprocess
mode: the services are separate processes that the supervisor restarts one by
one; an endpoint per process needs no shared folder of memory-mapped files to
clean up after a killed process, shows a dead service as a failed scrape (``up
== 0``) instead of stale numbers, and keeps a service's metrics out of every
other process. Counters restart at 0 with their process, which Prometheus'
``rate()`` and ``increase()`` handle.

Ports (``base_port`` + offset, from :mod:`inspector.service_registry`):
actuator 0, recorder 1, publisher 2, supervisor 3, detector instance i 10+i,
camera i (in 'cameras' order) 20+i.

Every service exports its own event counters (``inspector_service_events_total``,
the counters its heartbeats carry), read when scraped: nothing is added to a
service's work, the actuator's decision path included. The recorder, which
sees every decision once and off the decision path, exports the part,
verdict, fail-safe and alarm counters and the per-hop latency histograms,
labelled with the model version.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from inspector.config.schema import Config
from inspector.errors import ServiceError
from inspector.messages import Alarm
from inspector.plant.metrics_http import basic_auth, serve
from inspector.service_registry import port_offset, running

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
STAGE_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)


def metrics_port(config: Config, kind: str, instance: str = "") -> int:
    """The port a process's metrics are served on (``instance``: a camera's name, a detector's number)."""
    return config.plant.metrics.base_port + port_offset(config, kind, instance)


def all_metrics_ports(config: Config) -> dict[str, int]:
    """Every endpoint of the station: process name -> port (what a Prometheus scrape config lists)."""
    return {entry.process_name(instance): metrics_port(config, entry.name, instance)
            for entry, instance in running(config) if entry.metrics_offset is not None}


LEVELS = frozenset({"pending", "outbox_messages"})  # heartbeat values that go down as well as up: gauges


class ServiceCounters:
    """Collector: a service's own counters, copied when Prometheus scrapes."""

    def __init__(self, station: str, service: str, read: Callable[[], dict[str, int]]) -> None:
        self.station = station
        self.service = service
        self.read = read

    def collect(self) -> Iterable[Any]:
        for _ in range(3):  # the service's thread may add a counter while this one copies them
            try:
                counters = dict(self.read())
                break
            except RuntimeError:
                continue
            except AttributeError:  # scraped while the service is still setting up
                counters = {}
                break
        else:
            counters = {}
        family = CounterMetricFamily("inspector_service_events", "A service's own event counters (as its heartbeats carry them).",
                                     labels=["station", "service", "event"])
        levels = GaugeMetricFamily("inspector_service_level", "A service's own levels (queue lengths) as its heartbeats carry them.",
                                   labels=["station", "service", "level"])
        for event, value in sorted(counters.items()):
            (levels if event in LEVELS else family).add_metric([self.station, self.service, event], float(value))
        yield family
        yield levels
        up = GaugeMetricFamily("inspector_service_running", "1 while the service process serves its metrics.", labels=["station", "service"])
        up.add_metric([self.station, self.service], 1.0)
        yield up


class MetricsEndpoint:
    """A process's /metrics endpoint: its registry, served by a daemon thread until :meth:`close`."""

    def __init__(self, config: Config, name: str, port: int, collector: Any) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(collector)
        host = config.plant.metrics.host
        try:
            self._server, self._thread = serve(self.registry, name, host, port, basic_auth(config.plant.metrics))
        except OSError as err:
            raise ServiceError(f"plant.metrics: the {name} metrics endpoint {host}:{port} cannot listen: {err.strerror or err}") from err
        log.info("metrics of %s on http://%s:%d/metrics", name, host, port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(config: Config, service: str, port: int, read_counters: Callable[[], dict[str, int]]) -> MetricsEndpoint:
    """Start a service's /metrics endpoint with its own counters."""
    return MetricsEndpoint(config, service, port, ServiceCounters(config.station.name, service, read_counters))


class SupervisedServices:
    """Collector for the supervisor's endpoint: each supervised process's health and restarts."""

    def __init__(self, station: str, processes: Callable[[], list[Any]], heartbeat_timeout_s: float) -> None:
        self.station = station
        self.processes = processes
        self.timeout = heartbeat_timeout_s

    def collect(self) -> Iterable[Any]:
        import time

        up = GaugeMetricFamily("inspector_service_up", "1 while the supervised process runs and (if it sends them) its heartbeats arrive.",
                               labels=["station", "service"])
        restarts = CounterMetricFamily("inspector_service_restarts", "Restarts of a supervised process since the supervisor started.",
                                       labels=["station", "service"])
        now = time.monotonic()
        for proc in list(self.processes()):
            beating = bool(proc.last_beat) and now - proc.last_beat <= getattr(proc, "heartbeat_timeout_s", self.timeout)
            healthy = beating if proc.watched else proc.running and (not proc.sends_heartbeats or beating)
            up.add_metric([self.station, proc.name], 1.0 if healthy else 0.0)
            restarts.add_metric([self.station, proc.name], float(proc.restarts))
        yield up
        yield restarts


class StandingAlarms:
    """Collector for the actuator's endpoint: the station's alarm board, as the PLC's alarm tag and MQTT show it."""

    SEVERITIES = ("warning", "critical")

    def __init__(self, station: str, entries: Callable[[], Iterable[Any]]) -> None:
        self.station = station
        self.entries = entries  # the board's AlarmEntry values (read while the delivery thread may change them)

    def collect(self) -> Iterable[Any]:
        import time

        for _ in range(3):
            try:
                entries = list(self.entries())
                break
            except RuntimeError:  # the board changed while copied
                continue
        else:
            entries = []
        now = time.time()
        standing = [e for e in entries if e.standing(now)]
        each = GaugeMetricFamily("inspector_alarm_standing", "1 for each alarm standing on the station's board (active, not shelved).",
                                 labels=["station", "source", "code", "severity"])
        for e in standing:
            each.add_metric([self.station, e.source, e.code, e.severity], 1.0)
        counts = GaugeMetricFamily("inspector_alarms_standing", "Standing alarms by severity (the PLC's alarm tag counts the critical ones).",
                                   labels=["station", "severity"])
        waiting = GaugeMetricFamily("inspector_alarms_unacknowledged", "Alarms and events on the operator's list not yet acknowledged.",
                                    labels=["station"])
        shelved = GaugeMetricFamily("inspector_alarms_shelved", "Alarms shelved now (hidden from the operator, the PLC and the plant).",
                                    labels=["station"])
        for severity in self.SEVERITIES:
            counts.add_metric([self.station, severity], float(sum(e.severity == severity for e in standing)))
        waiting.add_metric([self.station], float(sum(e.shown(now) and not e.acked for e in entries)))
        shelved.add_metric([self.station], float(sum(e.shelved(now) for e in entries)))
        yield each
        yield counts
        yield waiting
        yield shelved


class DecisionMetrics:
    """The line's outcome, as the recorder records it: parts, verdicts, fail-safes, alarms, latency per hop."""

    def __init__(self, registry: CollectorRegistry, station: str) -> None:
        self.station = station
        self._lock = threading.Lock()
        self.parts = Counter("inspector_parts", "Decided parts recorded, by result (PASS, REJECT, FAILSAFE_REJECT, FAILSAFE_PASS) and model.",
                             ["station", "camera", "result", "model_version"], registry=registry)
        self.verdicts = Counter("inspector_verdicts", "Detector verdicts behind the recorded decisions, by verdict and model.",
                                ["station", "camera", "verdict", "model_version"], registry=registry)
        self.failsafes = Counter("inspector_failsafe_decisions", "Parts decided by the fail-safe, by cause (deadline, detector_error, seen_lost).",
                                 ["station", "camera", "cause"], registry=registry)
        self.plc_undelivered = Counter("inspector_plc_undelivered", "Decisions that did not reach the PLC.", ["station", "camera"], registry=registry)
        self.alarms = Counter("inspector_alarms", "Alarms recorded (raised), by source, severity and code.",
                              ["station", "source", "severity", "code"], registry=registry)
        self.alarms_cleared = Counter("inspector_alarms_cleared", "Alarm clearings recorded, by source and code.",
                                      ["station", "source", "code"], registry=registry)
        self.trigger_to_plc = Histogram("inspector_trigger_to_plc_seconds", "Trigger to PLC write confirmed, per part.",
                                        ["station", "camera", "model_version"], buckets=LATENCY_BUCKETS_S, registry=registry)
        self.trigger_to_decision = Histogram("inspector_trigger_to_decision_seconds", "Trigger to the actuator's decision, per part.",
                                             ["station", "camera", "model_version"], buckets=LATENCY_BUCKETS_S, registry=registry)
        self.decision_to_plc = Histogram("inspector_decision_to_plc_seconds", "Actuator decision to PLC write confirmed, per part.",
                                         ["station", "camera"], buckets=LATENCY_BUCKETS_S, registry=registry)
        self.stage = Histogram("inspector_stage_seconds", "Time in each stage of a part's inspection (transport, preprocess, inference, ...).",
                               ["station", "stage", "model_version"], buckets=STAGE_BUCKETS_S, registry=registry)
        self.model = Gauge("inspector_model_info", "1 for the model version of the last recorded verdict of each camera.",
                           ["station", "camera", "model_version"], registry=registry)
        self._current_model: dict[str, str] = {}

    def observe_decision(self, row: dict[str, Any]) -> None:
        """One newly recorded decision row (see :func:`inspector.records.store.decision_row`)."""
        camera, model = row["camera"], row.get("model_version") or "none"
        st = self.station
        self.parts.labels(st, camera, row["result"], model).inc()
        if row.get("verdict_result"):
            self.verdicts.labels(st, camera, row["verdict_result"], model).inc()
            with self._lock:
                previous = self._current_model.get(camera)
                if previous != model:
                    if previous is not None:
                        self.model.remove(st, camera, previous)
                    self._current_model[camera] = model
                    self.model.labels(st, camera, model).set(1)
        if row["result"].startswith("FAILSAFE"):
            self.failsafes.labels(st, camera, row.get("source") or "unknown").inc()
        if not row.get("plc_delivered"):
            self.plc_undelivered.labels(st, camera).inc()
        t_trigger, t_decided, t_written = row.get("t_trigger"), row.get("t_decided"), row.get("t_plc_written")
        if t_trigger and t_written:
            self.trigger_to_plc.labels(st, camera, model).observe(max(0.0, t_written - t_trigger))
        if t_trigger and t_decided:
            self.trigger_to_decision.labels(st, camera, model).observe(max(0.0, t_decided - t_trigger))
        if t_decided and t_written:
            self.decision_to_plc.labels(st, camera).observe(max(0.0, t_written - t_decided))
        timings = row.get("timings_ms")
        if timings:
            try:
                stages = json.loads(timings)
            except ValueError:
                stages = {}
            for stage, ms in stages.items():
                if isinstance(ms, (int, float)):
                    self.stage.labels(st, stage, model).observe(max(0.0, ms / 1000))

    def observe_alarm(self, alarm: Alarm) -> None:
        if alarm.active:
            self.alarms.labels(self.station, alarm.source, alarm.severity, alarm.code).inc()
        else:
            self.alarms_cleared.labels(self.station, alarm.source, alarm.code).inc()

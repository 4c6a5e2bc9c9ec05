"""The soak's observers of the plant outputs: Prometheus scraped as Prometheus does, an OPC UA client that reconnects.

Counters are summed as Prometheus' ``increase()`` sums them: a counter that
went down, or whose process changed (a restarted service starts from 0), was
reset, and its new value is all increase. What a process counted after the
last scrape before it died is lost here as it is to Prometheus: the report
says how many resets there were.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from inspector.config.schema import Config

log = logging.getLogger(__name__)

Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(host: str, port: int, timeout_s: float = 2.0) -> dict[Sample, float]:
    """Every sample of one endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[Sample, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def _is_counter(name: str) -> bool:
    return name.endswith(("_total", "_count", "_sum"))


class MetricsScraper:
    """Scrapes every endpoint every ``every_s`` in a thread of its own; ``increase`` holds the summed counters."""

    def __init__(self, host: str, ports: dict[str, int], pid_of: Callable[[str], int | None], every_s: float) -> None:
        self.host, self.ports, self.pid_of, self.every_s = host, ports, pid_of, every_s
        self.increase: dict[str, dict[Sample, float]] = {name: {} for name in ports}
        self.resets: dict[str, int] = {name: 0 for name in ports}
        self.scrapes: dict[str, int] = {name: 0 for name in ports}
        self.failures: dict[str, int] = {name: 0 for name in ports}
        self._last: dict[str, tuple[int | None, dict[Sample, float]]] = {}
        self.last_by_pid: dict[tuple[str, int | None], dict[Sample, float]] = {}  # each process's last scrape
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.scrape_all()

    def scrape_all(self) -> None:
        for name, port in self.ports.items():
            pid = self.pid_of(name)
            try:
                samples = scrape(self.host, port)
            except (OSError, ValueError):
                with self._lock:
                    self.failures[name] += 1
                continue
            with self._lock:
                self._take(name, pid, samples)

    def _take(self, name: str, pid: int | None, samples: dict[Sample, float]) -> None:
        self.scrapes[name] += 1
        last_pid, last = self._last.get(name, (None, {}))
        restarted = name in self._last and pid != last_pid
        went_down = any(_is_counter(k[0]) and v < last.get(k, 0.0) for k, v in samples.items())
        reset = restarted or went_down or name not in self._last
        if name in self._last and reset:
            self.resets[name] += 1
        acc = self.increase[name]
        for key, value in samples.items():
            if not _is_counter(key[0]):
                continue
            acc[key] = acc.get(key, 0.0) + (value if reset else value - last.get(key, 0.0))
        self._last[name] = (pid, samples)
        self.last_by_pid[(name, pid)] = samples

    def last_value(self, name: str, pid: int, metric: str, **labels: str) -> float | None:
        with self._lock:
            samples = self.last_by_pid.get((name, pid))
        return None if samples is None else total(samples, metric, **labels)

    def totals(self) -> tuple[dict[str, dict[Sample, float]], dict[str, int], dict[str, int], dict[str, int]]:
        with self._lock:
            return ({k: dict(v) for k, v in self.increase.items()}, dict(self.resets), dict(self.scrapes), dict(self.failures))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


class OpcUaWatch:
    """A SCADA's OPC UA client (the soak's certificate, SignAndEncrypt), subscribed to every result-ready event.

    It reconnects after the server went away (restarts, kills, SIGSTOP), and keeps (camera, part id) of every
    event, with how often it connected and the last error."""

    def __init__(self, config: Config, client: str) -> None:
        self.config, self.client_name = config, client
        self.events: list[tuple[str, int]] = []
        self.connects = 0
        self.sessions: list[list[float | None]] = []  # [subscribed at, ended at] per session
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="soak-opcua", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def status_change_notification(self, status) -> None:  # asyncua's handler interface: the session's end, noticed anyway
        pass

    def event_notification(self, event) -> None:  # asyncua's handler interface
        with self._lock:
            self.events.append((str(getattr(event, "Camera", "")), int(getattr(event, "PartId", 0) or 0)))

    def snapshot(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self.events)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        while not self._stop.is_set():
            try:
                await self._session()
            except Exception as err:  # noqa: BLE001 - the server went away: note it, wait, connect again
                text = f"{type(err).__name__}: {err}"[:300]
                if not self.errors or self.errors[-1] != text:
                    self.errors.append(text)
            try:
                await asyncio.wait_for(self._stop.wait(), 1.0)
            except TimeoutError:
                pass

    async def _session(self) -> None:
        from asyncua import Client
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        from inspector.opcua.certs import CLIENT_URI, client_paths, server_paths
        from inspector.opcua.server import NAMESPACE

        folder = Path(self.config.opcua.folder)
        paths = client_paths(folder, self.client_name)
        client = Client(self.config.opcua.endpoint, timeout=5)
        client.application_uri = CLIENT_URI.format(name=self.client_name)
        await client.set_security(SecurityPolicyBasic256Sha256, str(paths.cert), str(paths.key),
                                  server_certificate=str(server_paths(folder).cert))
        await client.load_client_certificate(str(paths.cert))
        await client.load_private_key(str(paths.key))
        await asyncio.wait_for(client.connect(), 15)
        try:
            ns = await client.get_namespace_index(NAMESPACE)
            system = await client.nodes.objects.get_child(f"{ns}:VisionSystem")
            event_type = await client.nodes.root.get_child(["0:Types", "0:EventTypes", "0:BaseEventType", f"{ns}:ResultReadyEventType"])
            subscription = await client.create_subscription(50, self)
            await subscription.subscribe_events(system, event_type)
            self.connects += 1
            self.sessions.append([time.time(), None])
            state = await system.get_child([f"{ns}:VisionStateMachine", f"{ns}:CurrentState"])
            while not self._stop.is_set():  # a read now and then: a server that went away is noticed within seconds
                await asyncio.wait_for(state.read_value(), 5)
                try:
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                except TimeoutError:
                    pass
        finally:
            if self.sessions and self.sessions[-1][1] is None:
                self.sessions[-1][1] = time.time()
            try:
                await asyncio.wait_for(client.disconnect(), 5)
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        self._thread.join(20)

"""What every service shares: the run loop, heartbeats, counters, clean stop.

A service is a loop of :meth:`Service.step` calls, each waiting at most a
short time for work, so that SIGTERM/SIGINT stop it between two messages,
never in the middle of one. Its heartbeats go out from a thread of their own
while the loop turns (:mod:`inspector.services.heartbeats`).

Each message a service takes is handled inside its message boundary: a
message refused at decoding, or one whose handling raises whatever it raises,
is counted and logged (cut; the log limits repeats, see
:mod:`inspector.service_logs`) by :meth:`Service.message_failed`, and the
service goes on with the next. No message from anyone stops a service.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter

import zmq

from inspector.alarms.owner import AlarmOwner
from inspector.channels import CHANNELS, LineSockets
from inspector.bounded import clip
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.file_modes import use_station_group
from inspector.service_registry import station_process
from inspector.services.heartbeats import HeartbeatSender
from inspector.transport import send_message

log = logging.getLogger(__name__)


class Service(ABC):
    """Base class: subclasses implement ``setup``, ``step`` and ``teardown``."""

    kind = "service"
    restates_alarms = True  # False: another object of the process owns and restates this owner's conditions

    def __init__(self, config: Config, instance: str = "") -> None:
        self.config = config
        use_station_group(config.station.file_group)  # what it writes: owner-only, or readable by the file group
        self.name = f"{self.kind}:{instance}" if instance else self.kind
        self.instance = instance
        self.metrics_registry = None  # with plant.metrics on: this process's Prometheus registry, served on its own port
        self._metrics_endpoint = None
        self.counters: Counter[str] = Counter()
        self.ctx = zmq.Context()
        self.sockets = LineSockets(config, self.kind, self.ctx)
        self._stop = threading.Event()
        self.set_up = False  # setup() finished: teardown() may rely on all it made
        self.entry = station_process(self.kind)  # the registry's word on it: how often it beats, how soon silence counts
        self._heartbeat_sock: zmq.Socket | None = None
        self._heartbeats: HeartbeatSender | None = None
        self._counters_now: dict[str, int] = {}  # what the next heartbeat reports: the loop's latest snapshot
        self._alarm_sock: zmq.Socket | None = None
        # the alarms this process owns: raised, cleared and restated every second (see inspector.alarms)
        self.alarm = AlarmOwner(config.station.name, self.name, self.send_alarm)

    # -- to implement -----------------------------------------------------------
    def setup(self) -> None:
        """Open sockets and resources."""

    @abstractmethod
    def step(self, timeout_s: float) -> None:
        """Handle whatever work arrives within ``timeout_s``."""

    def teardown(self) -> None:
        """Flush and release resources."""

    def send_alarm(self, message: object) -> bool:
        """Queue an alarm message to the alarm board's keeper (the actuator overrides: it keeps the board)."""
        if self._alarm_sock is None:
            if self.kind not in CHANNELS["alarms"].connectors:
                return False
            self._alarm_sock = self.sockets.open("alarms")
        return send_message(self._alarm_sock, message)

    def message_failed(self, what: str, err: Exception) -> None:
        """The message boundary: handling ``what`` (a message) raised ``err``; it is dropped, the service goes on."""
        self.counters["message_errors"] += 1
        log.error("%s: %s could not be handled and is dropped (%s: %s); going on with the next message", self.name,
                  what, type(err).__name__, clip(str(err)), exc_info=not isinstance(err, InspectorError))

    # -- running ----------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Run until stopped (signal or :meth:`stop`); always tears down.

        Heartbeats go out from their own thread once setup is done, while the loop turns
        (:mod:`inspector.services.heartbeats`). A setup that fails half way is torn down without hiding its error:
        an error of the teardown then is logged, and the setup's is the one raised."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        config = self.config
        interval = self.entry.heartbeat_interval_s(config)
        self._heartbeat_sock = self.sockets.open("heartbeats", hwm=10)
        log.info("%s starting (pid %d)", self.name, os.getpid())
        try:
            self.metrics_registry = self._serve_metrics()
            self.setup()
            self.set_up = True
            self._counters_now = self.heartbeat_counters()
            self._heartbeats = HeartbeatSender(self.name, self._heartbeat_sock, interval,
                                               self.entry.loop_stall_allowance_s(config), lambda: self._counters_now)
            self._heartbeats.start()  # the first beat says: set up
            if self.restates_alarms:
                self.alarm.restate(force=True)  # what an earlier run of this process raised and no longer holds clears now
            next_snapshot = time.monotonic() + interval
            while not self.stopping:
                self.step(min(interval, 0.1))
                if self.restates_alarms:
                    self.alarm.restate()
                now = time.monotonic()
                self._heartbeats.turned(now)
                if now >= next_snapshot:  # a few times per beat: a heartbeat's counters are at most that old
                    self._counters_now = self.heartbeat_counters()
                    next_snapshot = now + interval / 4
        finally:
            log.info("%s stopping; counters: %s", self.name, dict(self.counters))
            if self._heartbeats is not None:
                self._heartbeats.stop()
            try:
                self._teardown()
            finally:
                self._heartbeat_sock.close(0)
                if self._alarm_sock is not None:
                    self._alarm_sock.close(linger=500)  # an alarm sent just before a failed start still goes out
                self.sockets.close()
                if self._metrics_endpoint is not None:
                    self._metrics_endpoint.close()
                self.ctx.destroy(linger=1000)

    def _teardown(self) -> None:
        """Tear down; after a setup that failed, a teardown error is logged, not raised over the setup's error."""
        if self.set_up:
            self.teardown()
            return
        try:
            self.teardown()
        except Exception:
            log.exception("%s: tearing down after its failed setup failed as well (the setup's error follows)", self.name)

    def _serve_metrics(self):
        if not self.config.plant.metrics.enabled:
            return None
        from inspector.plant.metrics import metrics_port, serve_metrics

        port = metrics_port(self.config, self.kind, self.instance)
        self._metrics_endpoint = serve_metrics(self.config, self.name, port, self.heartbeat_counters)
        return self._metrics_endpoint.registry

    def heartbeat_counters(self) -> dict[str, int]:
        """What the heartbeat reports; services with more counters extend it."""
        return dict(self.counters)

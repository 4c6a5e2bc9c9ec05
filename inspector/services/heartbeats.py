"""A service's heartbeats, sent from a thread of their own while its loop keeps turning.

The supervisor restarts a service whose heartbeats stop (:mod:`inspector.supervisor`). Sent from the service's
loop, a heartbeat waits for whatever the loop is doing: a long SQLite write (a journal commit synced to a busy
disk, a lock held by another connection) silenced a healthy actuator as surely as a frozen one. Here a thread
sends them, and the loop only says that it turns: the thread beats while the loop has turned within the
service's stall allowance (:meth:`inspector.service_registry.StationProcess.loop_stall_allowance_s`), and stops
beating when it has not, so a loop stuck for ``supervisor.heartbeat_timeout_s`` in all is still restarted.

SQLite, ZeroMQ and lock waits release the GIL, so the thread beats on time through them; a process that is
stopped (SIGSTOP), frozen or dead stops beating at once, and the actuator's tighter watchdog
(``supervisor.actuator_heartbeat_timeout_s``) restarts it within that time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import zmq

from inspector.messages import MAX_INT64, Heartbeat
from inspector.transport import send_message

log = logging.getLogger(__name__)


class HeartbeatSender:
    """Beats every ``interval_s`` on ``sock`` (used by this thread only) while the loop turns."""

    def __init__(self, name: str, sock: zmq.Socket, interval_s: float, stall_allowance_s: float,
                 counters: Callable[[], dict[str, int]]) -> None:
        self.name = name
        self.sock = sock
        self.interval_s = interval_s
        # the loop turns at least every 0.1 s when idle: more than an interval without a turn is a stall
        self.stall_limit_s = stall_allowance_s + max(interval_s, 0.1)
        self.counters = counters  # the latest snapshot the loop took (read here, never computed here)
        self.sent = 0
        self.withheld = 0
        self._turned = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-heartbeats", daemon=True)
        self._stalled = False

    def turned(self, now: float | None = None) -> None:
        """The loop turned (called by the service's loop, each turn)."""
        self._turned = time.monotonic() if now is None else now

    def stalled_s(self) -> float:
        """How long ago the loop last turned."""
        return time.monotonic() - self._turned

    def start(self) -> None:
        self._turned = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _run(self) -> None:
        while True:
            self._beat()
            if self._stop.wait(self.interval_s):
                return

    def _beat(self) -> None:
        stalled_s = self.stalled_s()
        if stalled_s > self.stall_limit_s:
            self.withheld += 1
            if not self._stalled:
                self._stalled = True
                log.error("%s: its loop has not turned for %.1fs; heartbeats stop, so the supervisor restarts it",
                          self.name, stalled_s)
            return
        if self._stalled:
            self._stalled = False
            log.warning("%s: its loop turns again; heartbeats resume", self.name)
        send_message(self.sock, self.heartbeat())

    def heartbeat(self) -> Heartbeat:
        """The next heartbeat; a count past what a heartbeat carries (2**63 - 1: a sequence a sender jumped twice by
        2**63) is sent as that, never a heartbeat the supervisor refuses."""
        self.sent += 1
        counters = {name: max(-MAX_INT64 - 1, min(MAX_INT64, value)) if isinstance(value, int) else value
                    for name, value in self.counters().items()}
        return Heartbeat(self.name, os.getpid(), self.sent, time.time(), counters)

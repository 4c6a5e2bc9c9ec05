"""The line's event stream (decisions, alarms, the alarm board) as its observers read it: never blocking the line.

The actuator binds a PUB socket; an observer (the HMI, the OPC UA server)
connects a SUB socket as the station's ``observer`` and drains it without
waiting. A PUB socket drops messages for a subscriber that falls behind (past
its high-water mark) instead of waiting for it, so a frozen HMI costs the
line nothing. Through the same feed the HMI sends alarm acknowledgements and
shelvings to the board's keeper and its own heartbeat.
"""

from __future__ import annotations

import logging
import os
import time

import zmq

from inspector.channels import LineSockets, endpoint
from inspector.config.schema import Config
from inspector.errors import MessageError
from inspector.messages import Alarm, AlarmBoardState, AlarmCommand, Decision, Heartbeat
from inspector.transport import recv_message, send_message

log = logging.getLogger(__name__)


class EventFeed:
    """A subscription to the line's events, as the station's ``observer`` (its key is on the line's list)."""

    def __init__(self, config: Config, ctx: zmq.Context | None = None, hwm: int | None = None) -> None:
        self.endpoint = endpoint(config, "events")
        self._own_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self._sockets = LineSockets(config, "observer", self.ctx)
        self.sock = self._sockets.open("events", hwm=hwm)
        self.malformed = 0
        self.received = 0
        self._commands = self._sockets.open("alarm_commands", hwm=10)  # connected now: the first command goes at once
        self._heartbeats: zmq.Socket | None = None
        self._beats = 0

    def send_command(self, command: AlarmCommand) -> bool:
        """An acknowledgement or shelving to the alarm board's keeper; False when it cannot be queued now."""
        return send_message(self._commands, command)

    def beat(self) -> None:
        """A heartbeat as the station's 'hmi' process: a supervisor that runs the HMI restarts it when they stop."""
        if self._heartbeats is None:
            self._heartbeats = self._sockets.open("heartbeats", hwm=10)
        self._beats += 1
        send_message(self._heartbeats, Heartbeat("hmi", os.getpid(), self._beats, time.time(), {"events": self.received}))

    def drain(self, max_messages: int = 1000) -> list[Decision | Alarm | AlarmBoardState]:
        """Every message waiting now (up to ``max_messages``); returns at once when there is none."""
        messages: list[Decision | Alarm | AlarmBoardState] = []
        while len(messages) < max_messages:
            try:
                message = recv_message(self.sock, zmq.NOBLOCK)
            except zmq.Again:
                break
            except MessageError as err:
                self.malformed += 1
                log.warning("ignored a malformed event from %s: %s", self.endpoint, err)
                continue
            if isinstance(message, (Decision, Alarm, AlarmBoardState)):
                messages.append(message)
                self.received += 1
        return messages

    def close(self) -> None:
        self.sock.close(0)
        for sock in (self._commands, self._heartbeats):
            if sock is not None:
                sock.close(0)
        self._sockets.close()
        if self._own_ctx:
            self.ctx.term()

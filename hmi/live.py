"""The line's event stream (decisions and alarms) as the HMI reads it: never blocking the line.

The actuator binds a PUB socket; the HMI connects a SUB socket and drains it
without waiting. A PUB socket drops messages for a subscriber that falls
behind (past its high-water mark) instead of waiting for it, so a frozen HMI
costs the line nothing.
"""

from __future__ import annotations

import logging

import zmq

from inspector.errors import MessageError
from inspector.messages import Alarm, Decision
from inspector.transport import open_socket, recv_message

log = logging.getLogger(__name__)


class EventFeed:
    def __init__(self, endpoint: str, ctx: zmq.Context | None = None, hwm: int = 1000) -> None:
        self.endpoint = endpoint
        self._own_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self.sock = open_socket(self.ctx, "sub", endpoint, bind=False, hwm=hwm)
        self.malformed = 0
        self.received = 0

    def drain(self, max_messages: int = 1000) -> list[Decision | Alarm]:
        """Every message waiting now (up to ``max_messages``); returns at once when there is none."""
        messages: list[Decision | Alarm] = []
        while len(messages) < max_messages:
            try:
                message = recv_message(self.sock, zmq.NOBLOCK)
            except zmq.Again:
                break
            except MessageError as err:
                self.malformed += 1
                log.warning("ignored a malformed event from %s: %s", self.endpoint, err)
                continue
            if isinstance(message, (Decision, Alarm)):
                messages.append(message)
                self.received += 1
        return messages

    def close(self) -> None:
        self.sock.close(0)
        if self._own_ctx:
            self.ctx.term()

"""The actuator keeps the station's alarm board (it binds the alarm channel and writes the PLC's alarm tag).

Owners' raises, clears, events and restatements, and the HMI's
acknowledgements and shelvings, all reach the delivery thread, which hands
them here. The keeper applies them to the board and says what to publish:
each alarm change goes to the recorder (the history) and to the observers;
the whole board goes to the observers on every change and every second, so
an observer that starts late or missed a message is right within a second.
"""

from __future__ import annotations

import logging
import time

from inspector.alarms.board import AlarmBoard, AlarmCommandRefused
from inspector.alarms.board_store import BoardStore
from inspector.channels import channel_ends
from inspector.config.schema import Config
from inspector.errors import StoreError
from inspector.messages import Alarm, AlarmBoardState, AlarmCommand, AlarmStanding
from inspector.service_registry import running

log = logging.getLogger(__name__)

STATE_EVERY_S = 1.0
STATE_GAP_S = 0.2  # a board that keeps changing (fail-safe events at line rate) goes out at most this often
FLUSH_EVERY_S = 0.5


def station_owners(config: Config) -> set[str]:
    """Every process of this station that may own alarms: those with an end of the alarm channel (an alarm of any
    other owner is cleared at start)."""
    return {entry.process_name(instance) for entry, instance in running(config)
            if entry.identity is not None and "alarms" in channel_ends(entry.identity)}


class AlarmKeeper:
    """The board and when to say it: one thread's (the actuator's delivery thread)."""

    def __init__(self, config: Config) -> None:
        self.station = config.station.name
        self.board = AlarmBoard(
            self.station, BoardStore(config.station.state_dir),
            unacked_keep_s=config.alarms.unacked_keep_h * 3600, max_shelve_s=config.alarms.max_shelve_h * 3600,
            owners=station_owners(config), now=time.time(),
        )
        self.refused_commands = 0
        self._said_version = -1
        self._said_at = float("-inf")
        self._next_state = 0.0
        self._next_flush = 0.0
        self._flush_failed = False

    def take(self, message: Alarm | AlarmStanding | AlarmCommand) -> list[Alarm]:
        """Apply one message; return the alarm changes to publish (to the history and the observers)."""
        now = time.time()
        if isinstance(message, Alarm):
            self.board.apply(message, now)
            return [message]
        if isinstance(message, AlarmStanding):
            return self.board.restate(message, now)
        if message.station != self.station:
            self.refused_commands += 1
            log.warning("alarm command for station %r refused (this is %r)", message.station, self.station)
            return []
        try:
            changed = self.board.command(message, now)
        except AlarmCommandRefused as err:
            self.refused_commands += 1
            log.warning("alarm command refused: %s", err)
            return []
        log.info("%s by %s (%s): %d alarm(s)%s", message.action, message.user, message.role, changed,
                 f"; reason: {message.reason}" if message.reason else "")
        return []

    def critical_standing(self) -> int:
        return self.board.critical_standing(time.time())

    def due_state(self, monotonic_now: float) -> AlarmBoardState | None:
        """The board to send to observers: soon after it changed, and every second; None otherwise."""
        self.board.tick(time.time())  # expiries move the version: said below
        self._flush(monotonic_now)
        changed = self.board.version != self._said_version and monotonic_now >= self._said_at + STATE_GAP_S
        if not changed and monotonic_now < self._next_state:
            return None
        self._said_version = self.board.version
        self._said_at = monotonic_now
        self._next_state = monotonic_now + STATE_EVERY_S
        return self.board.state(time.time())

    def next_due(self) -> float:
        """The monotonic time of the next board message: a change not yet said, or the periodic one."""
        if self.board.version != self._said_version:
            return min(self._next_state, self._said_at + STATE_GAP_S)
        return self._next_state

    def close(self) -> None:
        self._flush(float("inf"))
        self.board.store.close()

    def _flush(self, monotonic_now: float) -> None:
        if monotonic_now < self._next_flush:
            return
        self._next_flush = monotonic_now + FLUSH_EVERY_S
        try:
            self.board.flush()
        except StoreError as err:  # the board in memory still decides what is shown; retried at the next flush
            if not self._flush_failed:
                log.error("%s", err)
            self._flush_failed = True
        else:
            self._flush_failed = False

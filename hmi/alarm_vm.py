"""The station's alarm board as the HMI shows it, and what its users may do to it (free of Qt).

The board is kept by the actuator (:mod:`inspector.alarms.board`), which
sends it with every change and every second; without a running line the HMI
reads the board's file. The operator acknowledges (one alarm, or all shown);
a quality engineer or admin shelves an alarm for a bounded time with a
reason, and takes it off the shelf. Each action is written to the audit trail
first, then sent to the board's keeper; the board that comes back shows it.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from hmi.roles import HmiError, Permission
from hmi.users import Session
from inspector.alarms.board_store import read_board
from inspector.audit import AuditTrail
from inspector.errors import StoreError
from inspector.messages import AlarmBoardState, AlarmCommand, AlarmEntry
from inspector.records.alarms import AlarmRecord

log = logging.getLogger(__name__)

BOARD_STALE_S = 3.0  # the keeper sends the board every second: this long without it, the line's alarm board is not running
SendCommand = Callable[[AlarmCommand], bool]


def alarm_record(entry: AlarmEntry) -> AlarmRecord:
    """An entry in the form the operator's sentences read (hmi.alarm_text)."""
    return AlarmRecord(entry.t_raised, entry.source, entry.code, entry.severity, entry.text, entry.active, entry.part_id,
                       entry.kind)


class AlarmBoardView:
    def __init__(self, station: str, state_dir: str, session: Session, audit: AuditTrail, send: SendCommand | None,
                 *, clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.station = station
        self.state_dir = state_dir
        self.session = session
        self.audit = audit
        self.send = send  # None: no running line to send to (database-only HMI)
        self.clock = clock
        self.monotonic = monotonic
        self.entries: list[AlarmEntry] = []
        self._board_at: float | None = None  # monotonic time of the last board from the line
        self._started = monotonic()
        self.problem = ""

    # -- what comes in ----------------------------------------------------------------------
    def on_board(self, board: AlarmBoardState) -> None:
        if board.station == self.station:
            self.entries = list(board.entries)
            self._board_at = self.monotonic()

    def refresh(self) -> None:
        """Without a fresh board from the line, the board's file (as its keeper last wrote it)."""
        if self._board_at is not None and not self.stale:
            self.problem = ""
            return
        try:
            self.entries = read_board(self.state_dir)
        except StoreError as err:
            self.problem = str(err)
            return
        self.problem = "" if self.send is None or not self.stale else (
            "the alarm board is not updated (the actuator is not running?): alarms shown as last kept")

    @property
    def stale(self) -> bool:
        """No board from the line for BOARD_STALE_S (counted from the start until the first one)."""
        last = self._board_at if self._board_at is not None else self._started
        return self.monotonic() - last > BOARD_STALE_S

    # -- what is shown ------------------------------------------------------------------------
    def shown(self) -> list[AlarmEntry]:
        """The operator's list: active or unacknowledged, not shelved; standing critical first, then newest first."""
        now = self.clock()
        entries = [e for e in self.entries if e.shown(now)]
        return sorted(entries, key=lambda e: (not e.standing(now), e.severity != "critical", -e.t_raised))

    def shelved(self) -> list[AlarmEntry]:
        now = self.clock()
        return [e for e in self.entries if e.shelved(now)]

    def standing(self, code: str) -> AlarmEntry | None:
        now = self.clock()
        return next((e for e in self.entries if e.code == code and e.standing(now)), None)

    @property
    def count(self) -> int:
        return len(self.shown())

    @property
    def latest(self) -> AlarmRecord | None:
        shown = self.shown()
        return alarm_record(shown[0]) if shown else None

    # -- what people do ------------------------------------------------------------------------
    def acknowledge(self, entry: AlarmEntry | None = None) -> int:
        """Acknowledge one alarm, or every alarm shown; returns how many."""
        user = self.session.require(Permission.ACK_ALARM)
        targets = self.shown() if entry is None else [entry]
        if not targets:
            return 0
        self.audit.record(user.name, "alarm_ack", "alarms" if entry is None else f"alarm:{entry.source}:{entry.code}",
                          {"shown": [f"{e.source}/{e.code}" for e in targets]}, {"acknowledged": len(targets)})
        self._send(AlarmCommand(self.station, "acknowledge", "" if entry is None else entry.source,
                                "" if entry is None else entry.code, user.name, user.role, self.clock()), "alarm_ack")
        return len(targets)

    def shelve(self, entry: AlarmEntry, reason: str, hours: float) -> None:
        user = self.session.require(Permission.SHELVE_ALARM)
        if not reason.strip():
            raise HmiError("say why the alarm is shelved (the reason goes into the audit trail)")
        self.audit.record(user.name, "alarm_shelve", f"alarm:{entry.source}:{entry.code}", {"text": entry.text},
                          {"reason": reason.strip(), "hours": hours})
        self._send(AlarmCommand(self.station, "shelve", entry.source, entry.code, user.name, user.role, self.clock(),
                                reason.strip(), hours * 3600), "alarm_shelve")

    def unshelve(self, entry: AlarmEntry) -> None:
        user = self.session.require(Permission.SHELVE_ALARM)
        self.audit.record(user.name, "alarm_unshelve", f"alarm:{entry.source}:{entry.code}",
                          {"shelved_by": entry.shelved_by, "reason": entry.shelve_reason}, None)
        self._send(AlarmCommand(self.station, "unshelve", entry.source, entry.code, user.name, user.role, self.clock()),
                   "alarm_unshelve")

    def _send(self, command: AlarmCommand, action: str) -> None:
        """To the board's keeper; an audited action that could not be sent is audited as not applied."""
        if self.send is not None and self.send(command):
            return
        why = ("the line is not running: alarms are acknowledged and shelved on the running line" if self.send is None
               else "the actuator, which keeps the alarm board, is not taking commands now; try again")
        self.audit.record(command.user, f"{action}_not_applied", f"alarm:{command.source}:{command.code}", None, {"why": why})
        raise HmiError(why)

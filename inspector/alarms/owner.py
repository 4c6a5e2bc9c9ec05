"""The owner's side of an alarm: raise it, clear it, report an event, restate what stands.

Every process that raises alarms holds one :class:`AlarmOwner`. It sends a
change the moment it happens, and restates its standing conditions every
``restate_s`` (an :class:`~inspector.messages.AlarmStanding`): the board
keeper clears whatever an owner no longer states. So a clearing lost on the
way, or a condition a crashed run left raised, is put right within a second
of the owner running again, and the owner never has to remember what an
earlier run raised.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from inspector.alarms.catalogue import definition
from inspector.bounded import clip
from inspector.messages import Alarm, AlarmSeverity, AlarmStanding

log = logging.getLogger(__name__)

RESTATE_S = 1.0
TEXT_LIMIT = 400  # characters of an alarm's text: enough to name the cause, never a whole offending message

Send = Callable[[object], bool]  # queues an Alarm or AlarmStanding; False when it could not be queued
_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


class AlarmOwner:
    """The alarms one process raises (``owner`` names it: ``recorder``, ``detector:0``, ``supervisor``)."""

    def __init__(self, station: str, owner: str, send: Send, restate_s: float = RESTATE_S) -> None:
        self.station = station
        self.owner = owner
        self.send = send
        self.restate_s = restate_s
        self.undelivered = 0
        self._active: dict[tuple[str, str], Alarm] = {}
        self._next_restate = 0.0

    # -- conditions ------------------------------------------------------------------
    def raise_(self, code: str, text: str, *, source: str = "", severity: AlarmSeverity | None = None,
               part_id: int | None = None) -> None:
        """Raise condition ``code`` (sent when new, or when its severity or text changed)."""
        entry = self._definition(code, "condition")
        alarm = Alarm(self.station, source or self.owner, code, severity or entry.severity, clip(text, TEXT_LIMIT),
                      time.time(), True, part_id, "condition", self._owner_field(source))
        key = (alarm.source, code)
        held = self._active.get(key)
        if held is not None and (held.severity, held.text) == (alarm.severity, alarm.text):
            return
        if held is None:
            log.log(_LEVEL[alarm.severity], "alarm %s raised (%s): %s", code, alarm.source, alarm.text)
        self._active[key] = alarm
        self._send(alarm)

    def clear(self, code: str, text: str = "", *, source: str = "") -> None:
        """Clear condition ``code`` if this owner has it raised."""
        self._definition(code, "condition")
        held = self._active.pop((source or self.owner, code), None)
        if held is None:
            return
        log.info("alarm %s cleared (%s)%s", code, held.source, f": {text}" if text else "")
        self._send(Alarm(self.station, held.source, code, held.severity, clip(text or held.text, TEXT_LIMIT),
                         time.time(), False, held.part_id, "condition", held.owner))

    def set(self, code: str, active: bool, text: str, *, source: str = "", severity: AlarmSeverity | None = None) -> None:
        """Raise or clear ``code`` by ``active``."""
        if active:
            self.raise_(code, text, source=source, severity=severity)
        else:
            self.clear(code, text, source=source)

    def is_raised(self, code: str, *, source: str = "") -> bool:
        return (source or self.owner, code) in self._active

    # -- events ----------------------------------------------------------------------
    def event(self, code: str, text: str, *, source: str = "", severity: AlarmSeverity | None = None,
              part_id: int | None = None) -> None:
        """Report a one-shot occurrence (recorded, shown until acknowledged, never standing)."""
        entry = self._definition(code, "event")
        alarm = Alarm(self.station, source or self.owner, code, severity or entry.severity, clip(text, TEXT_LIMIT),
                      time.time(), False, part_id, "event", self._owner_field(source))
        log.log(_LEVEL[alarm.severity], "event %s (%s): %s", code, alarm.source, alarm.text)
        self._send(alarm)

    def __call__(self, code: str, severity: AlarmSeverity, text: str, *, active: bool = True,
                 part_id: int | None = None, source: str = "") -> None:
        """The older call form (code, severity, text, active=): an event, a raise or a clear by the catalogue."""
        if definition(code).kind == "event":
            self.event(code, text, source=source, severity=severity, part_id=part_id)
        elif active:
            self.raise_(code, text, source=source, severity=severity, part_id=part_id)
        else:
            self.clear(code, text, source=source)

    # -- restating -------------------------------------------------------------------
    def standing(self) -> AlarmStanding:
        return AlarmStanding(self.station, self.owner, time.time(), list(self._active.values()))

    def restate(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the standing conditions when due (every ``restate_s``), or now with ``force``."""
        now = time.monotonic() if now is None else now
        if not force and now < self._next_restate:
            return
        self._next_restate = now + self.restate_s
        self._send(self.standing())

    # -- internals -------------------------------------------------------------------
    def _definition(self, code: str, kind: str):
        entry = definition(code)
        if entry.kind != kind:
            raise ValueError(f"alarm code {code!r} is an {entry.kind} in the catalogue, not a {kind}")
        return entry

    def _owner_field(self, source: str) -> str:
        return self.owner if source and source != self.owner else ""

    def _send(self, message: object) -> None:
        if not self.send(message):
            self.undelivered += 1

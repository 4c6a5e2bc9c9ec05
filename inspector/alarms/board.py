"""The station's alarm board: every alarm's state in one place, kept by one process (the actuator).

States follow ISA-18.2: an alarm is active or returned to normal,
acknowledged or not, shelved or not. A condition is raised and cleared by
its owner (:mod:`inspector.alarms.owner`); the board also clears whatever an
owner stops restating, so a restarted owner's first statement puts the board
right, and an owner no longer part of the station has its alarms cleared at
start. An event enters returned-to-normal and unacknowledged: shown to the
operator until acknowledged (or until ``unacked_keep_s`` after its last
occurrence), never standing. Repeats of an alarm that is still shown are
counted on the same entry, so the board stays small whatever the line does.

Acknowledging removes an alarm that has returned to normal; an active one
stays, acknowledged, until it clears. Shelving hides an alarm from the
operator, the PLC's alarm tag and the plant for a bounded time, with a reason.

The board is one thread's (no locks); :class:`~inspector.alarms.board_store.BoardStore`
keeps it on disk so a restarted keeper starts from it.
"""

from __future__ import annotations

import logging
from msgspec.structs import replace

from inspector.alarms.board_store import BoardStore
from inspector.errors import InspectorError
from inspector.messages import Alarm, AlarmBoardState, AlarmCommand, AlarmEntry, AlarmStanding

log = logging.getLogger(__name__)

Key = tuple[str, str]  # source, code
SHELVING_ROLES = ("quality", "admin")


class AlarmCommandRefused(InspectorError):
    """An acknowledgement or shelving the board cannot apply (unknown alarm, no reason, role not allowed)."""


class AlarmBoard:
    def __init__(self, station: str, store: BoardStore, *, unacked_keep_s: float, max_shelve_s: float,
                 owners: set[str] | None, now: float) -> None:
        self.station = station
        self.store = store
        self.unacked_keep_s = unacked_keep_s
        self.max_shelve_s = max_shelve_s
        self.version = 0
        self.entries: dict[Key, AlarmEntry] = {(e.source, e.code): e for e in store.load()}
        self._dirty = False
        if owners is not None:
            for entry in list(self.entries.values()):
                if entry.active and entry.owner not in owners:
                    self._clear(entry, now, f"{entry.owner} is no longer part of the station")

    # -- what owners report ------------------------------------------------------------
    def apply(self, alarm: Alarm, now: float) -> bool:
        """An owner's raise, clear or event; True when the board changed."""
        if alarm.kind == "event":
            if alarm.severity == "info":
                return False  # recorded in the history only, not annunciated
            return self._occurred(alarm, now)
        entry = self.entries.get((alarm.source, alarm.code))
        if alarm.active:
            return self._raised(entry, alarm, now)
        if entry is None or not entry.active:
            return False
        self._clear(entry, now, alarm.text)
        return True

    def restate(self, standing: AlarmStanding, now: float) -> list[Alarm]:
        """Bring the owner's conditions in line with its statement; the raises and clears this made, for the history."""
        stated = {(a.source, a.code): a for a in standing.alarms if a.kind == "condition" and a.active}
        made: list[Alarm] = []
        for key, entry in list(self.entries.items()):
            if entry.active and entry.owner == standing.owner and key not in stated:
                text = f"cleared: {standing.owner} no longer reports it"
                self._clear(entry, now, text)
                made.append(self._history(entry, False, text, now))
        for key, alarm in stated.items():
            entry = self.entries.get(key)
            if entry is None or not entry.active:
                self._raised(entry, alarm, now)
                made.append(alarm)
        return made

    # -- what people do ------------------------------------------------------------------
    def command(self, command: AlarmCommand, now: float) -> int:
        """Apply an acknowledgement or shelving; return how many alarms it changed. Raises AlarmCommandRefused."""
        if command.action == "acknowledge":
            targets = [e for e in self.entries.values() if e.shown(now)] if not command.code else [self._entry(command)]
            for entry in targets:
                self._acknowledge(entry, command.user, now)
            return len(targets)
        if command.role not in SHELVING_ROLES:
            raise AlarmCommandRefused(f"{command.user} ({command.role}) may not shelve alarms: only {' or '.join(SHELVING_ROLES)}")
        entry = self._entry(command)
        if command.action == "unshelve":
            self._put(replace(entry, shelved_until=None, shelved_by="", shelve_reason="", t_changed=now))
            return 1
        if not command.reason.strip():
            raise AlarmCommandRefused("shelving an alarm needs a reason")
        if not 0 < command.shelve_s <= self.max_shelve_s:
            raise AlarmCommandRefused(
                f"an alarm can be shelved for up to {self.max_shelve_s / 3600:g} h, not {command.shelve_s / 3600:g} h")
        self._put(replace(entry, shelved_until=now + command.shelve_s, shelved_by=command.user,
                          shelve_reason=command.reason.strip()[:200], t_changed=now))
        return 1

    # -- time ------------------------------------------------------------------------------
    def tick(self, now: float) -> bool:
        """Drop unacknowledged alarms that returned to normal long ago, and end shelvings that ran out."""
        changed = False
        for entry in list(self.entries.values()):
            if not entry.active and now - entry.t_changed > self.unacked_keep_s:
                self._remove(entry)
                changed = True
            elif entry.shelved_until is not None and now >= entry.shelved_until:
                self._put(replace(entry, shelved_until=None, shelved_by="", shelve_reason="", t_changed=now))
                changed = True
        return changed

    def flush(self) -> None:
        """Write the board to disk if it changed (the keeper calls this a few times a second at most)."""
        if self._dirty:
            self.store.save(self.entries.values())
            self._dirty = False

    # -- what consumers see ----------------------------------------------------------------
    def standing(self, now: float) -> list[AlarmEntry]:
        return [e for e in self.entries.values() if e.standing(now)]

    def critical_standing(self, now: float) -> int:
        """What the PLC's alarm tag shows: active, unshelved critical alarms."""
        return sum(1 for e in self.standing(now) if e.severity == "critical")

    def state(self, now: float) -> AlarmBoardState:
        entries = sorted(self.entries.values(), key=lambda e: e.t_raised, reverse=True)
        return AlarmBoardState(self.station, now, self.version, entries)

    # -- internals -------------------------------------------------------------------------
    def _raised(self, entry: AlarmEntry | None, alarm: Alarm, now: float) -> bool:
        if entry is not None and entry.active:
            if (entry.severity, entry.text) == (alarm.severity, alarm.text):
                return False
            self._put(replace(entry, severity=alarm.severity, text=alarm.text, t_changed=now))
            return True
        fresh = entry is None or entry.acked
        self._put(AlarmEntry(
            alarm.source, alarm.code, alarm.raised_by, alarm.severity, "condition", alarm.text, True, now, now,
            1 if fresh else entry.count + 1, alarm.part_id,
            shelved_until=None if entry is None else entry.shelved_until,
            shelved_by="" if entry is None else entry.shelved_by,
            shelve_reason="" if entry is None else entry.shelve_reason,
        ))
        return True

    def _occurred(self, alarm: Alarm, now: float) -> bool:
        entry = self.entries.get((alarm.source, alarm.code))
        count = 1 if entry is None or entry.acked else entry.count + 1
        self._put(AlarmEntry(
            alarm.source, alarm.code, alarm.raised_by, alarm.severity, "event", alarm.text, False, now, now, count,
            alarm.part_id,
            shelved_until=None if entry is None else entry.shelved_until,
            shelved_by="" if entry is None else entry.shelved_by,
            shelve_reason="" if entry is None else entry.shelve_reason,
        ))
        return True

    def _clear(self, entry: AlarmEntry, now: float, text: str) -> None:
        if entry.acked:
            self._remove(entry)
        else:
            self._put(replace(entry, active=False, t_changed=now, text=text or entry.text))

    def _acknowledge(self, entry: AlarmEntry, user: str, now: float) -> None:
        if not entry.active:
            self._remove(entry)
        else:
            self._put(replace(entry, acked=True, acked_by=user, t_acked=now, count=1))

    def _entry(self, command: AlarmCommand) -> AlarmEntry:
        entry = self.entries.get((command.source, command.code))
        if entry is None:
            raise AlarmCommandRefused(f"no alarm {command.code} from {command.source} on the board")
        return entry

    def _history(self, entry: AlarmEntry, active: bool, text: str, now: float) -> Alarm:
        owner = "" if entry.owner == entry.source else entry.owner
        return Alarm(self.station, entry.source, entry.code, entry.severity, text, now, active, entry.part_id, entry.kind, owner)

    def _put(self, entry: AlarmEntry) -> None:
        self.entries[(entry.source, entry.code)] = entry
        self.version += 1
        self._dirty = True

    def _remove(self, entry: AlarmEntry) -> None:
        self.entries.pop((entry.source, entry.code), None)
        self.version += 1
        self._dirty = True

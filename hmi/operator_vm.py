"""The operator screen's state and actions, free of Qt.

State comes from two places: the live event stream (every decision and
alarm as it happens, which may drop) and the recorder's database (complete,
a moment later). Counters are the database's shift totals plus the live
decisions the recorder has not written yet, so nothing is counted twice and
nothing waits for the recorder. Without a running line the database alone
feeds the screen.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable, Literal

from hmi.alarm_vm import AlarmBoardView
from hmi.observable import Observable
from hmi.roles import HmiError, Permission
from hmi.users import Session
from inspector.audit import AuditError, AuditTrail
from inspector.errors import StoreError
from inspector.messages import Alarm, AlarmBoardState, Decision, to_builtins
from inspector.records.alarms import AlarmRecord
from inspector.records.marks import Mark
from inspector.records.parts import PartKey, PartRecord, ShiftCounts
from inspector.records.station import StationDatabase

log = logging.getLogger(__name__)

LightState = Literal["ok", "warn", "fault", "idle", "stale"]
LIGHTS = ("camera", "detector", "PLC", "storage")
STALE_S = 5.0  # no part for this long: the line has stopped (or its camera has)
PLC_STALE_S = 5.0  # no PLC write for this long: the PLC light is stale (grey), not "delivered"
RECORDER_LAG_S = 5.0  # a live part not stored after this long: storage is behind
RECENT = 20
IMAGE_WAIT_S = 5.0  # a reject's image is "pending" this long after its trigger, then it is missing
REJECT_HOLD_S = 5.0  # the big panel holds the latest reject (with its image) this long, then shows the latest part
UNDO_S = 10.0  # a mark can be undone for this long after it was made
MARKED_KEPT = 24  # marked parts whose confirmation the screen keeps (the strip shows 12)
MARK_TEXT = {"false_reject": "Good part", "true_defect": "Defect"}


@dataclass(frozen=True)
class Light:
    state: LightState
    text: str


@dataclass(frozen=True)
class LatencyStats:
    budget_ms: float
    last_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    count: int = 0

    @property
    def over_budget(self) -> bool:
        return self.last_ms is not None and self.last_ms > self.budget_ms


def shift_start(now: float, first_hour: int = 6, hours: int = 8) -> float:
    """Start of the shift containing ``now`` (local time), shifts of ``hours`` from ``first_hour``."""
    local = datetime.fromtimestamp(now)
    anchor = local.replace(hour=first_hour, minute=0, second=0, microsecond=0)
    if anchor > local:
        anchor -= timedelta(days=1)
    elapsed = local - anchor
    return (anchor + timedelta(hours=hours * (elapsed // timedelta(hours=hours)))).timestamp()


def image_note(part: PartRecord | None, now: float) -> str:
    """What to show where a part's image is missing: pending only while it is still expected."""
    if part is None:
        return "no image yet"
    if part.image_path:
        return ""
    if part.image_note:  # the recorder says why ("image removed by retention", "image not stored: disk space critical")
        return part.image_note
    if part.is_reject and now - part.t_trigger < IMAGE_WAIT_S:
        return "image pending"
    if part.source != "verdict":
        return "no image (fail-safe)"
    return "no image stored" if part.is_reject else "no image (passes are sampled)"


def record_from_decision(decision: Decision) -> PartRecord:
    verdict = decision.verdict
    return PartRecord(
        camera=decision.camera, part_id=decision.part_id, result=decision.result, source=decision.source,
        t_trigger=decision.t_trigger, latency_ms=decision.latency_ms,
        detections=to_builtins(verdict.detections) if verdict else [], image_path=None,
        model_version=verdict.model_version if verdict else "", plc_delivered=decision.plc_delivered,
    )


class OperatorViewModel(Observable):
    def __init__(self, db: StationDatabase, session: Session, audit: AuditTrail, alarms: AlarmBoardView, *, budget_ms: float,
                 shift_start_t: float | None = None, live: bool = True, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.db = db
        self.alarms = alarms  # the station's alarm board (kept by the actuator)
        self.session = session
        self.audit = audit
        self.live = live
        self.clock = clock
        self.shift_start_t = shift_start(clock()) if shift_start_t is None else shift_start_t
        self.current: PartRecord | None = None  # the latest part
        self.shown: PartRecord | None = None  # the one part the big verdict, its caption and its image show
        self.image_part: PartRecord | None = None
        self.counts = ShiftCounts()
        self.recent_rejects: list[PartRecord] = []
        self.latency = LatencyStats(budget_ms)
        self.lights: dict[str, Light] = {name: Light("idle", "starting") for name in LIGHTS}
        self.storage_error = ""
        self.line_stopped = False
        self._db_counts = ShiftCounts()
        self._db_rejects: list[PartRecord] = []
        self._unrecorded: OrderedDict[PartKey, tuple[float, PartRecord]] = OrderedDict()  # key -> (arrival, record)
        self._seen: OrderedDict[PartKey, None] = OrderedDict()
        self._recent: deque[PartRecord] = deque(maxlen=RECENT)
        self._latencies: deque[float] = deque(maxlen=200)
        self.marked: dict[PartKey, PartRecord] = {}  # parts marked in this session, as the database confirmed them
        self._undo: dict[PartKey, tuple[float, str | None]] = {}  # key -> (undo until, the mark before)
        self._live_marks: dict[PartKey, tuple[str, str]] = {}

    # -- the live stream ------------------------------------------------------------------
    def handle(self, messages: list[Decision | Alarm | AlarmBoardState]) -> None:
        """Apply messages from the event stream (at once, without waiting for the recorder).

        Alarms are shown from the board that follows each change (one state, as the PLC and the plant see it)."""
        if not messages:
            return
        for message in messages:
            if isinstance(message, Decision):
                self._on_decision(message)
            elif isinstance(message, AlarmBoardState):
                self.alarms.on_board(message)
        self._recount()
        self._compute_lights()
        self._choose_shown()
        self._notify()

    def _on_decision(self, decision: Decision) -> None:
        key = (decision.camera, decision.part_id)
        if key in self._seen:
            return  # a repeated message: counted once
        self._seen[key] = None
        while len(self._seen) > 10_000:
            self._seen.popitem(last=False)
        record = record_from_decision(decision)
        self.current = record
        self._recent.appendleft(record)
        if record.t_trigger >= self.shift_start_t:
            self._unrecorded[key] = (self.clock(), record)
        if decision.latency_ms is not None:
            self._latencies.append(decision.latency_ms)
            self._update_latency(decision.latency_ms)

    # -- the database ------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the database: shift totals, recent rejects, images, alarms; drop live parts now stored."""
        try:
            self._db_counts = self.db.shift_counts(self.shift_start_t)
            stored = self.db.recorded(list(self._unrecorded))
            for key in stored:
                del self._unrecorded[key]
            self._db_rejects = self.db.recent_rejects(self.shift_start_t, limit=12)
            self._live_marks = self.db.marks([k for k, (_, r) in self._unrecorded.items() if r.is_reject])
            for key in list(self.marked):
                self.marked[key] = self._confirmed(key) or self.marked[key]
            self.image_part = self.db.latest_with_image()
            latest = self.db.latest_parts(1)
            if latest and (self.current is None or not self.live or latest[0].t_trigger > self.current.t_trigger):
                self.current = latest[0]  # the database is ahead of the live stream (it dropped, or is not connected)
            elif self.current is not None and (self.current.key in stored or not self.current.image_path and self.current.key not in self._unrecorded):
                self.current = self.db.part(self.current.key) or self.current  # its stored copy, with its image
            if not self._latencies:
                self._latencies.extend(self.db.latencies(self.shift_start_t))
                self._update_latency(self._latencies[-1] if self._latencies else None)
            self.storage_error = ""
        except (HmiError, StoreError) as err:  # the database unreadable for a moment: said on the screen
            self.storage_error = str(err)
            log.warning("%s", err)
        self.alarms.refresh()
        self._recount()
        self._compute_lights()
        self._choose_shown()
        self._notify()

    # -- alarms (the station's board) ---------------------------------------------------
    @property
    def alarm_count(self) -> int:
        return self.alarms.count

    @property
    def alarm_latest(self) -> AlarmRecord | None:
        return self.alarms.latest

    @property
    def alarm_problem(self) -> str:
        """Why the alarms shown may be out of date ('' when the board is live)."""
        return self.alarms.problem

    def _recount(self) -> None:
        live = [record for _, record in self._unrecorded.values()]
        c = self._db_counts
        self.counts = replace(
            c,
            inspected=c.inspected + len(live),
            passed=c.passed + sum(r.result in ("PASS", "FAILSAFE_PASS") for r in live),
            rejected=c.rejected + sum(r.result == "REJECT" for r in live),
            failsafe_rejects=c.failsafe_rejects + sum(r.result == "FAILSAFE_REJECT" for r in live),
        )
        stored_keys = {r.key for r in self._db_rejects}
        live_rejects = [self._with_live_mark(r) for r in live if r.is_reject and r.key not in stored_keys]
        merged = self._db_rejects + live_rejects
        self.recent_rejects = sorted(merged, key=lambda r: r.t_trigger, reverse=True)[:12]

    def _choose_shown(self) -> None:
        """The part of the big panel: the newest reject whose record is complete (its image stored, or no
        longer expected) for ``REJECT_HOLD_S`` after its trigger, so the operator can see what was rejected
        even at line rate; otherwise the latest part. Verdict, caption and image always come from it."""
        now = self.clock()
        complete = [r for r in self.recent_rejects if r.image_path or now - r.t_trigger >= IMAGE_WAIT_S]
        if complete and now - complete[0].t_trigger <= REJECT_HOLD_S:
            self.shown = complete[0]
        else:
            self.shown = self.current

    def _update_latency(self, last_ms: float | None) -> None:
        values = sorted(self._latencies)
        if not values:
            return
        p99 = values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]
        self.latency = LatencyStats(self.latency.budget_ms, last_ms, statistics.median(values), p99, len(values))

    def _compute_lights(self) -> None:
        now = self.clock()
        recent = list(self._recent) if self.live and self._recent else self._db_recent()
        lights: dict[str, Light] = {}
        if not recent:
            idle = Light("idle", "no parts yet" if self.live else "line stopped (database only)")
            lights.update(camera=idle, detector=idle, PLC=idle)
        else:
            newest = recent[0]
            age = now - newest.t_trigger
            self.line_stopped = age > STALE_S
            lights["camera"] = Light("ok", "parts arriving") if not self.line_stopped else Light("stale", f"line stopped: no part for {age:.0f} s")
            failsafe = sum(r.source != "verdict" for r in recent)
            if failsafe and newest.source != "verdict" and failsafe * 2 >= len(recent):
                lights["detector"] = Light("fault", f"{failsafe} of the last {len(recent)} parts fail-safe")
            elif failsafe:
                lights["detector"] = Light("warn", f"{failsafe} of the last {len(recent)} parts fail-safe")
            elif self.line_stopped:  # nothing to judge now: not green while no part is inspected
                lights["detector"] = Light("stale", f"line stopped: no verdict for {age:.0f} s")
            else:
                lights["detector"] = Light("ok", "verdicts in time")
            plc_lost = self.alarms.standing("plc_connection_lost")
            if plc_lost is not None:
                lights["PLC"] = Light("fault", plc_lost.text)
            elif not newest.plc_delivered:
                lights["PLC"] = Light("fault", f"part {newest.part_id} not delivered")
            elif now - self._last_write_t(newest) > PLC_STALE_S:
                lights["PLC"] = Light("stale", f"no PLC write for {now - self._last_write_t(newest):.0f} s")
            else:
                lights["PLC"] = Light("ok", "decisions delivered")
        lagging = [key for key, (arrived, _) in self._unrecorded.items() if now - arrived > RECORDER_LAG_S]
        if self.storage_error:
            lights["storage"] = Light("fault", self.storage_error)
        elif lagging:
            lights["storage"] = Light("warn", f"recorder behind: {len(lagging)} part(s) not stored")
        else:
            lights["storage"] = Light("ok", f"database {self.db.path.name}")
        self.lights = lights

    @staticmethod
    def _last_write_t(part: PartRecord) -> float:
        return part.t_trigger + (part.latency_ms or 0.0) / 1000

    def _db_recent(self) -> list[PartRecord]:
        try:
            return self.db.latest_parts(RECENT)
        except (HmiError, StoreError) as err:  # the database unreadable for a moment: said on the screen
            self.storage_error = str(err)
            return []

    # -- actions ------------------------------------------------------------------------
    def mark(self, key: PartKey, mark: Mark) -> PartRecord:
        """Mark a reject as a false reject or a confirmed defect; recorded with who and when.

        Returns the part as the database has it afterwards (its mark and who made it), which the
        screen shows on the card; the mark can be undone for ``UNDO_S`` seconds.
        """
        user = self.session.require(Permission.MARK_REJECT)
        part = self._known(key)
        if not part.is_reject:
            raise HmiError(f"part {part.part_id} was not rejected ({part.result})")
        before = self.db.mark_of(key)
        if before != mark:
            self._write_mark(part, before, mark, user.name, "reject_mark")
            self._undo[key] = (self.clock() + UNDO_S, before)
        self.refresh()
        confirmed = self._confirmed(key)
        if confirmed is None or confirmed.mark != mark:
            raise HmiError(f"the mark on part {key[1]} was not stored; tap again")
        self.marked[key] = confirmed
        while len(self.marked) > MARKED_KEPT:
            self.marked.pop(next(iter(self.marked)))
        self._notify()
        return confirmed

    def undo_left_s(self, key: PartKey) -> float:
        """Seconds left to undo the latest mark on ``key`` (0 when it can no longer be undone)."""
        until = self._undo.get(key, (0.0, None))[0]
        return max(0.0, until - self.clock())

    def undo_mark(self, key: PartKey) -> PartRecord:
        """Put back what the part was before the latest mark (no mark, or the earlier one)."""
        user = self.session.require(Permission.MARK_REJECT)
        if self.undo_left_s(key) <= 0:
            raise HmiError(f"the mark on part {key[1]} can no longer be undone (only for {UNDO_S:g} s)")
        part = self._known(key)
        _, before = self._undo.pop(key)
        self._write_mark(part, self.db.mark_of(key), before, user.name, "reject_mark_undo")
        self.refresh()
        confirmed = self._confirmed(key) or part
        self.marked[key] = confirmed
        self._notify()
        return confirmed

    def _known(self, key: PartKey) -> PartRecord:
        part = self.db.part(key) or next((r for r in self.recent_rejects if r.key == key), None) or self.marked.get(key)
        if part is None:
            raise HmiError(f"part {key[1]} of camera {key[0]} is not known")
        return part

    def _write_mark(self, part: PartRecord, before: str | None, after: str | None, user: str, action: str) -> None:
        key = part.key
        if after is None:
            self.db.clear_mark(key)
        else:
            self.db.set_mark(part, after, user)
        try:
            self.audit.record(user, action, f"part:{key[0]}:{key[1]}", {"mark": before}, {"mark": after, "result": part.result})
        except AuditError:
            if before is None:
                self.db.clear_mark(key)
            else:
                self.db.set_mark(part, before, user)
            raise

    def _confirmed(self, key: PartKey) -> PartRecord | None:
        """The part with its mark as stored in the database (a live part not yet recorded: its decision)."""
        stored = self.db.part(key)
        if stored is not None:
            return stored
        live = self._unrecorded.get(key)
        if live is None:
            return None
        found = self.db.marks([key]).get(key)
        return replace(live[1], mark=found[0] if found else None, mark_user=found[1] if found else None)

    def _with_live_mark(self, record: PartRecord) -> PartRecord:
        found = self._live_marks.get(record.key)
        return replace(record, mark=found[0], mark_user=found[1]) if found else record

    def acknowledge_alarms(self) -> int:
        """Acknowledge every alarm shown (the board that comes back from the line shows it); returns how many."""
        acknowledged = self.alarms.acknowledge()
        self._notify()
        return acknowledged

"""Parts whose part-seen event never reached the actuator: found and decided, once each.

A part-seen event can be lost with a frozen or killed actuator (it was in the
process's memory, or in the camera's queue to it). Two things find such a part:

- **the sequence gap**: the next part's event carries a number more than one
  past the last; the parts in between are decided at once (the actuator
  service, ``_part_seen_lost``). It needs a later part: at the end of a run,
  or with the line stopped, none comes;
- **the camera's trigger journal** (:mod:`inspector.records.trigger_journal`):
  every trigger is on disk before its event is sent. At start and every
  :data:`RECONCILE_EVERY_S` the actuator reads each camera's journal from where it
  left off (:class:`TriggerReconciler`); a trigger older than its deadline,
  the gate window and :data:`MARGIN_S` (so never a part the PLC could still
  act on, and never one whose event is merely on its way), that the actuator
  has neither seen nor decided, is decided now.

Either way the part gets the fail-safe result, recorded and never written to
the PLC (it is past the reject gate, :func:`inspector.actuator.reject_gate.not_written`),
source ``seen_lost``, with its true trigger time and sequence number when the
camera's journal holds them; and the ``part_seen_lost`` event names the parts.

No part gets two decisions. Both ways ask the same question first: does the
actuator know the part already? Its journal (every part seen or decided, across
runs) or its tracker (this run's parts, whose decisions may still be on their
way to the journal) answer it; a part decided here is told to the tracker, so a
part-seen event that still comes for it decides nothing. Where the actuator
left off in each journal is kept in its own journal, written after the
decisions it led to (:meth:`inspector.actuator.journal.DecisionJournal.reconciled`).

A camera journal met for the first time (no place kept for it) is not
judged before :data:`BEFORE_JOURNAL_S` ahead of the actuator's journal's
making: a journal deleted by hand holds no decision, and the parts of the
camera's whole keep window must not be decided again.

A camera journal that is missing (a camera on another host, whose state folder
the actuator cannot read, or a camera not started yet) or damaged is logged,
never fatal: that camera's lost events are then found by the gap alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inspector.actuator.journal import TriggerMark
from inspector.actuator.reject_gate import NOT_WRITTEN, RejectGate, not_written
from inspector.bounded import clip
from inspector.errors import StoreError
from inspector.messages import TRIGGER_TIME_UNKNOWN, Decision, DecisionResult
from inspector.records.trigger_journal import Trigger, read_triggers, trigger_journal_path, triggers_of

log = logging.getLogger(__name__)

RECONCILE_EVERY_S = 2.0
MARGIN_S = 1.0  # past the gate: a part-seen event this late is lost, not slow
BATCH = 5000  # triggers read per camera per pass; a full batch makes the next pass due at once
BEFORE_JOURNAL_S = 60.0  # triggers this long before the actuator's journal was made are judged; older ones are not
ERROR_EVERY_S = 60.0  # a journal that cannot be read is logged again this often

Known = Callable[[str, list[int]], set[int]]  # (camera, part ids) -> the ids the actuator has seen or decided


@dataclass(frozen=True)
class LostPart:
    """A part decided without its part-seen event: the decision, and the number its event had (None: not known)."""

    decision: Decision
    seen_seq: int | None


@dataclass
class ReconcilePass:
    decided: list[LostPart] = field(default_factory=list)
    marks: dict[str, TriggerMark] = field(default_factory=dict)  # cameras read further: where they were left


def lost_decision(station: str, camera: str, part_id: int, t_trigger: float, failsafe: DecisionResult, why: str) -> Decision:
    """The one decision of a part whose part-seen event was lost: fail-safe, source ``seen_lost``, not written."""
    return not_written(Decision(station, camera, part_id, 0, failsafe, TRIGGER_TIME_UNKNOWN, t_trigger, time.time(), False),
                       failsafe, f"{why}, {NOT_WRITTEN}")


class TriggerReconciler:
    """Reads the cameras' trigger journals for parts the actuator never heard of (see the module's doc)."""

    def __init__(self, station: str, cameras: list[str], state_dir: str, gate: RejectGate, failsafe: DecisionResult,
                 marks: dict[str, TriggerMark], journal_created: float = 0.0) -> None:
        self.station = station
        self.cameras = cameras
        self.state_dir = state_dir
        self.gate = gate
        self.failsafe = failsafe
        self.marks = dict(marks)
        self.since = journal_created - BEFORE_JOURNAL_S  # see the module's doc
        self._next = 0.0  # monotonic: the first pass at once
        self._absent: set[str] = set()
        self._next_error: dict[str, float] = {}

    def due(self, now_mono: float) -> bool:
        return now_mono >= self._next

    def run(self, now: float, known: Known) -> ReconcilePass:
        """One pass over every camera's journal: the parts to decide now, and how far each journal was read."""
        self._next = time.monotonic() + RECONCILE_EVERY_S
        done = ReconcilePass()
        cutoff = now - (self.gate.closes_at(0.0) + MARGIN_S)
        for camera in self.cameras:
            try:
                self._camera(camera, cutoff, known, done)
            except StoreError as err:
                self._error(camera, str(err))
        return done

    def _camera(self, camera: str, cutoff: float, known: Known, done: ReconcilePass) -> None:
        mark = self.marks.get(camera)
        batch = read_triggers(self.state_dir, camera, mark.entry if mark else 0, BATCH)
        if batch is None:
            if camera not in self._absent:
                self._absent.add(camera)
                log.warning("camera %s has no trigger journal at %s (a camera on another host, or not started yet): "
                            "its part-seen events lost with a frozen actuator are found by sequence gaps only",
                            camera, trigger_journal_path(self.state_dir, camera))
            return
        if camera in self._absent:
            self._absent.discard(camera)
            log.info("camera %s's trigger journal is there: its triggers are reconciled", camera)
        if mark is not None and batch.journal_id != mark.journal_id:
            if mark.entry:
                log.warning("camera %s's trigger journal was made anew: reading it from its start", camera)
                batch = read_triggers(self.state_dir, camera, 0, BATCH)
                if batch is None:
                    return
            mark = None
        due = _until_young(batch.triggers, cutoff)
        if len(batch.triggers) == BATCH and len(due) == BATCH:
            self._next = 0.0  # behind (a long outage): the next pass at once
        if not due:
            if mark is None:  # the journal's identity is kept from the first read on
                done.marks[camera] = self.marks[camera] = TriggerMark(batch.journal_id, 0)
            return
        judged = [t for t in due if t.t_trigger >= self.since] if mark is None else due
        if len(judged) < len(due):
            log.warning("camera %s's trigger journal holds %d trigger(s) from before the actuator's journal was made: "
                        "not judged (their decisions, if any, were in an earlier journal)", camera, len(due) - len(judged))
        have = known(camera, [t.part_id for t in judged])
        why = "its part-seen event never reached the actuator (lost with a frozen or killed actuator); found in the camera's trigger journal"
        for trigger in judged:
            if trigger.part_id not in have:
                have.add(trigger.part_id)  # an id journaled twice (a part counter set back) is decided once here
                decision = lost_decision(self.station, camera, trigger.part_id, trigger.t_trigger, self.failsafe, why)
                done.decided.append(LostPart(decision, trigger.seq))
        done.marks[camera] = self.marks[camera] = TriggerMark(batch.journal_id, due[-1].entry)

    def trigger_times(self, camera: str, first_id: int, last_id: int) -> dict[int, Trigger] | None:
        """The camera journal's triggers of part ids ``first_id``..``last_id`` (for parts a sequence gap showed); None
        when it has no journal (a camera on another host) or it cannot be read (logged)."""
        try:
            return triggers_of(self.state_dir, camera, first_id, last_id)
        except StoreError as err:
            self._error(camera, str(err))
            return None

    def _error(self, camera: str, error: str) -> None:
        now = time.monotonic()
        if now < self._next_error.get(camera, 0.0):
            return
        self._next_error[camera] = now + ERROR_EVERY_S
        log.error("camera %s's triggers cannot be reconciled (%s): its part-seen events lost with a frozen actuator are "
                  "found by sequence gaps only until they can", camera, clip(error))


def _until_young(triggers: list[Trigger], cutoff: float) -> list[Trigger]:
    """The triggers before the first one too young to judge (triggered after ``cutoff``)."""
    for i, trigger in enumerate(triggers):
        if trigger.t_trigger > cutoff:
            return triggers[:i]
    return triggers


def lost_parts_text(lost: list[LostPart], shown: int = 10) -> str:
    """Per camera, the parts decided without their part-seen event, for the ``part_seen_lost`` event."""
    by_camera: dict[str, list[int]] = {}
    for part in lost:
        by_camera.setdefault(part.decision.camera, []).append(part.decision.part_id)
    said = []
    for camera, ids in by_camera.items():
        listed = ", ".join(str(i) for i in ids[:shown]) + (f" (+{len(ids) - shown} more)" if len(ids) > shown else "")
        said.append(f"camera {camera}: parts {listed}")
    return "; ".join(said)

"""Delivering decisions: the PLC write, then the recorder and the observers.

One thread owns the PLC connection: it writes decisions in the order they
were made, and between them the heartbeat. A slow or absent PLC therefore
never holds up the tracking of deadlines. The heartbeat goes right after a
decision when it is due soon (see :func:`beat_now`): parts come at a steady
rate, so that is the moment the next decision is furthest away, and a
decision seldom waits for a heartbeat write in progress. A decision the PLC
did not take is still recorded, marked undelivered with the PLC's error, and
never retried (its part has passed the reject gate by then). A write that
went out and got no answer is held, journaled, until the next session reads
the PLC's result tags back: latched late, it is recorded delivered with its
sequence and raises ``plc_write_late``; not latched, undelivered
(:mod:`plc_io.reconcile`). A decision whose part is past the reject gate by
the time it would be written (after an outage, a restart, a backlog) is
recorded fail-safe and never written (:mod:`inspector.actuator.reject_gate`). While the PLC
is away a reconnect is attempted at least every second, parts or not, so
``plc_connection_lost`` clears within a second or two of its return. An
auxiliary tag the PLC refuses (heartbeat, fault code, alarm count,
inspections, ack) costs no decision: it raises ``plc_tag_refused`` and is
tried again every few seconds (see :mod:`plc_io.aux_tags`). Losing and
regaining the PLC, fail-safe decisions and unacknowledged results raise
alarms, which go to the recorder (lossless) and to the observers. So do the
other services' alarms (camera, detectors, supervisor), which reach the
actuator on their own channel: an operator sees an alarm while the recorder
is down, and the PLC's alarm tag counts the active critical ones. The budget
holds for the PLC's confirmation too: a write confirmed after
``t_trigger + budget`` is counted and alarmed (``plc_write_late``).

Every decision is journaled (:mod:`inspector.actuator.journal`), synced,
before its PLC write and again with the PLC's answer and sequence number, so
a crash anywhere loses no decision: what the previous run left open is
recorded and alarmed when this one starts. A journal that cannot be written
does not hold up the PLC write (the part must be decided in time); it raises
a critical alarm.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import Counter

from msgspec.structs import replace

from inspector.actuator.alarm_keeper import AlarmKeeper
from inspector.actuator.journal import DecisionJournal, Recovery, TriggerMark, part_list
from inspector.actuator.delivery_reports import LateWrites, LinkState, PastGateReports
from inspector.actuator.reject_gate import RejectGate, not_written
from inspector.actuator.tracker import failsafe_result
from inspector.alarms.owner import AlarmOwner
from inspector.bounded import clip
from inspector.channels import LineSockets
from inspector.config.schema import Config
from inspector.errors import PlcError, PlcWriteInDoubt, StoreError
from inspector.messages import Alarm, AlarmCommand, AlarmStanding, Decision
from inspector.transport import send_message
from plc_io.handshake import FAULT_FAILSAFE, FAULT_LINE_STOP, FAULT_NONE, ResultHandshake

log = logging.getLogger(__name__)

_STOP = object()


@dataclasses.dataclass(frozen=True)
class _Unwritten:
    decision: Decision
    seen_seq: int | None  # the part-seen number its lost event had


@dataclasses.dataclass(frozen=True)
class _Mark:
    camera: str
    mark: TriggerMark  # how far its trigger journal was reconciled: written after the decisions queued before it


EARLY_BEAT_FRACTION = 0.25  # after a decision, beat if the heartbeat is due within this share of its period


def beat_now(now: float, next_beat: float, period: float, just_delivered: bool) -> bool:
    """Whether to write the heartbeat now: it is due, or a decision just went and it is due soon.

    Beating early only ever shortens the interval the PLC's watchdog sees
    (never below ``1 - EARLY_BEAT_FRACTION`` of the period); without decisions
    the heartbeat keeps its period.
    """
    return now >= next_beat or (just_delivered and next_beat - now <= period * EARLY_BEAT_FRACTION)


class DecisionDelivery(threading.Thread):
    def __init__(self, config: Config, sockets: LineSockets, journal: DecisionJournal, recovery: Recovery) -> None:
        super().__init__(name="decision-delivery", daemon=True)
        self.config = config
        self.sockets = sockets
        self.journal = journal
        self.recovery = recovery
        self.queue: queue.Queue = queue.Queue()
        self.counters: Counter[str] = Counter()
        self.plc = ResultHandshake(config.plc)
        self.link = LinkState()
        self._seq = recovery.delivery_seq  # the decision stream's numbering continues across restarts
        self._last_failsafe = float("-inf")
        self._journal_ok = True
        self._late = LateWrites()
        self.gate = RejectGate(config.actuator.budget_ms / 1000, config.actuator.gate_window_ms / 1000)
        self._past_gate = PastGateReports(self.gate)
        self._in_doubt: Decision | None = None  # written without an answer: recorded once the PLC's tags settle it
        # the actuator's own alarms (the PLC, the journal, fail-safes); they go onto the board it keeps
        self.alarm = AlarmOwner(config.station.name, "actuator", self._own_alarm)
        self.alarms = AlarmKeeper(config)  # the station's alarm board
        # opened here, in the actuator's setup, used by the thread alone from its start: a bind that fails (an
        # endpoint held by another process) stops the actuator with the holder named, never only this thread
        self._recorder = self._events = None
        try:
            self._recorder = sockets.open("decisions")
            self._events = sockets.open("events")
        except BaseException:
            if self._recorder is not None:
                self._recorder.close(0)
            self.alarms.close()
            raise

    @classmethod
    def for_station(cls, config: Config, sockets: LineSockets) -> "DecisionDelivery":
        """Delivery with the station's journal, after closing what the journal's previous run left open."""
        journal = DecisionJournal(config.station.state_dir, config.actuator.journal_keep_hours)
        try:
            recovery = journal.recover(failsafe_result(config.actuator.failsafe_action), config.station.name, time.time())
            delivery = cls(config, sockets, journal, recovery)
        except BaseException:
            journal.close()
            raise
        if recovery.decisions:
            log.error("the previous run left %d part(s) open; recording them and raising an alarm", len(recovery.decisions))
        return delivery

    def submit(self, decision: Decision) -> None:
        self.queue.put(decision)

    def submit_unwritten(self, decision: Decision, seen_seq: int | None = None) -> None:
        """A decision recorded, never written to the PLC (its part is past the reject gate): numbered, journaled, sent
        to the recorder, in order with the others."""
        self.queue.put(_Unwritten(decision, seen_seq))

    def submit_mark(self, camera: str, mark: TriggerMark) -> None:
        """How far ``camera``'s trigger journal is reconciled, journaled after the decisions submitted before it."""
        self.queue.put(_Mark(camera, mark))

    def submit_alarm(self, message: Alarm | AlarmStanding | AlarmCommand) -> None:
        """An owner's alarm or restatement, or an operator's acknowledgement: onto the board, in order with the decisions."""
        self.queue.put(message)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, then stop."""
        self.queue.put(_STOP)
        self.join(timeout_s)
        if self.is_alive():
            log.error("decision delivery did not finish in %.1fs; %d decision(s) still queued", timeout_s, self.queue.qsize())

    # -- the thread ---------------------------------------------------------------
    def run(self) -> None:
        period = self.config.plc.heartbeat_period_s
        self._report_recovery()
        self._beat()  # the PLC's state is known before the actuator states its own alarms
        self.alarm.restate(force=True)  # what an earlier run raised and no longer holds (the PLC is back) clears now
        next_beat = time.monotonic() + period
        try:
            while True:
                wake = min(next_beat, self.alarms.next_due())
                try:
                    item = self.queue.get(timeout=max(0.0, min(wake - time.monotonic(), self._reconnect_in())))
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                delivered = isinstance(item, Decision)
                if item is not None:
                    self._take(item)
                now = time.monotonic()
                if beat_now(now, next_beat, period, just_delivered=delivered) or self._reconnect_in() <= 0:
                    self._beat()
                    next_beat = time.monotonic() + period
                self._report_past_gate(time.monotonic())
                board = self.alarms.due_state(time.monotonic())
                if board is not None:
                    send_message(self._events, board)
        finally:
            try:
                self._close_in_doubt()
                self._report_past_gate(float("inf"))  # what the period held back, said before stopping
            except Exception:  # the journal, the board and the sockets are closed below whatever happened here
                log.exception("settling the last PLC write before stopping failed")
            self.alarms.close()  # the board is on disk: the next run starts from it
            self.plc.close()
            self.journal.close()
            self._recorder.close(linger=2000)
            self._events.close(0)

    def _take(self, item: object) -> None:
        """One item of the queue, inside the thread's message boundary: whatever one alarm, command or decision
        raises is logged (cut) and counted, and the thread goes on delivering the next (it must never stop)."""
        try:
            if isinstance(item, (Alarm, AlarmStanding, AlarmCommand)):
                self._take_alarm(item)
            elif isinstance(item, _Unwritten):
                self._record_unwritten(item.decision, item.seen_seq)
            elif isinstance(item, _Mark):
                self.journal.reconciled(item.camera, item.mark)
            else:
                self._deliver(item)
        except Exception as err:  # noqa: BLE001 - the message boundary of the delivery thread
            self.counters["message_errors"] += 1
            log.error("decision delivery: %s of part %s could not be handled and is dropped (%s: %s)",
                      type(item).__name__, getattr(item, "part_id", "-"), type(err).__name__, clip(str(err)),
                      exc_info=True)

    def _deliver(self, decision: Decision) -> None:
        now = time.time()
        if self.gate.passed(decision.t_trigger, now):
            self._past(decision, now)
            return
        self._journal(self.journal.writing, decision)  # numbered when final (see _final)
        if decision.result.startswith("FAILSAFE"):
            self._on_failsafe(decision)
        try:
            t_sent, t_written = self.plc.write_decision(decision.part_id, decision.result)
        except PlcWriteInDoubt as err:
            self._settle()  # an earlier write in doubt, settled by this write's new session
            self.counters["plc_in_doubt"] += 1
            log.error("part %d: decision %s written without an answer: %s", decision.part_id, decision.result, err)
            self._link_down(str(err))
            t_sent = self.plc.in_doubt.t_sent if self.plc.in_doubt is not None else None
            self._in_doubt = replace(decision, t_plc_sent=t_sent, plc_error=str(err))
            return
        except PlcError as err:
            self._settle()
            self.counters["plc_undelivered"] += 1
            log.error("part %d: decision %s not delivered to the PLC: %s", decision.part_id, decision.result, err)
            self._link_down(str(err))
            self.link.undelivered.append(decision.part_id)
            delivered = replace(decision, plc_delivered=False, plc_error=str(err))
        else:
            self._settle()
            self.counters["plc_written"] += 1
            self._link_up()
            delivered = replace(
                decision, plc_delivered=True, t_plc_sent=t_sent, t_plc_written=t_written, plc_seq=self.plc.sequence
            )
            self._check_late(delivered)
        self._final(delivered)

    def _final(self, decision: Decision) -> None:
        """A decision as the PLC's answer left it: numbered, journaled (synced), to the recorder and the observers."""
        self._seq += 1
        decision = replace(decision, seq=self._seq)
        self._journal(self.journal.answered, decision)
        self._publish(decision, what=f"decision for part {decision.part_id}")

    def _settle(self) -> None:
        """Record the write in doubt once a new session has read the PLC's result tags back: latched late, or not."""
        settled = self.plc.take_settled()
        if settled is None:
            return
        decision, self._in_doubt = self._in_doubt, None
        if decision is None or decision.part_id != settled.write.part_id:  # not this thread's write: nothing to record
            log.error("the PLC's tags settled a write in doubt the delivery does not hold: %s", settled.describe())
            return
        said = settled.describe()
        if settled.latched:
            self.counters["plc_written"] += 1
            self.counters["plc_delivered_late"] += 1
            self.counters["plc_write_late"] += 1
            decision = replace(decision, plc_delivered=True, t_plc_written=settled.t_read,
                                           plc_seq=settled.write.sequence, plc_error=said)
            log.warning("part %d: %s", decision.part_id, said)
            self.alarm.event("plc_write_late", f"part {decision.part_id}: {said}; budget {self.config.actuator.budget_ms:g} ms",
                             part_id=decision.part_id)
        else:
            self.counters["plc_undelivered"] += 1
            self.link.undelivered.append(decision.part_id)
            decision = replace(decision, plc_delivered=False, plc_error=said)
            log.error("part %d: %s", decision.part_id, said)
        self._final(decision)

    def _close_in_doubt(self) -> None:
        """At the end: a write still in doubt is settled if the PLC answers one read now, else recorded unknown."""
        if self._in_doubt is None:
            return
        try:
            self.plc.connect()
        except PlcError as err:
            log.warning("the PLC's tags could not be read back before stopping: %s", err)
        self._settle()
        if self._in_doubt is not None:
            decision, self._in_doubt = self._in_doubt, None
            self.counters["plc_undelivered"] += 1
            self._final(replace(decision, plc_delivered=False, plc_error=(
                f"{decision.plc_error}; the actuator stopped before the PLC's tags could be read back: whether the "
                "PLC latched it is unknown")))

    def _past(self, decision: Decision, now: float) -> None:
        """A decision whose part is past the reject gate at ``now``: recorded fail-safe with the reason, never written."""
        decision = not_written(decision, failsafe_result(self.config.actuator.failsafe_action), self.gate.why(decision, now))
        self.counters["decided_past_gate"] += 1
        self._last_failsafe = time.monotonic()  # the fault code says so, as for any fail-safe decision
        if not self.link.up:
            self.link.undelivered.append(decision.part_id)
        self._past_gate.observe(decision, now - decision.t_trigger)
        self._record_unwritten(decision, None)

    def _report_past_gate(self, now: float) -> None:
        report, part_id = self._past_gate.due(now)
        if report:
            self.alarm.event("decision_past_gate", report, part_id=part_id)

    def _record_unwritten(self, decision: Decision, seen_seq: int | None) -> None:
        self._seq += 1
        decision = replace(decision, seq=self._seq)
        self.counters["decided_unwritten"] += 1
        self._journal(lambda d: self.journal.unwritten(d, seen_seq), decision)
        self._publish(decision, what=f"unwritten decision for part {decision.part_id}")

    def _journal(self, write, decision: Decision) -> None:
        try:
            write(decision)
        except StoreError as err:
            self.counters["journal_failed"] += 1
            if self._journal_ok:
                self._journal_ok = False
                self.alarm.raise_("journal_write_failed", f"decisions are not journaled, a crash may lose them: {err}")
            return
        if not self._journal_ok:
            self._journal_ok = True
            self.alarm.clear("journal_write_failed", "the actuator's journal is written again")

    def _report_recovery(self) -> None:
        """Record what the previous run left open, and say so (before any new decision)."""
        recovery = self.recovery
        for decision in recovery.decisions:
            self._publish(decision, what=f"recovered decision for part {decision.part_id}")
        if recovery.undecided:
            self.alarm.event(
                "parts_undecided_at_restart",
                f"{len(recovery.undecided)} part(s) were seen but not decided when the actuator stopped: recorded "
                f"{recovery.undecided[0].result}, not written to the PLC (check them by hand): parts {part_list(recovery.undecided)}",
            )
        if recovery.unknown:
            self.alarm.event(
                "plc_write_interrupted",
                f"{len(recovery.unknown)} decision(s) were being written to the PLC when the actuator stopped; whether the "
                f"PLC took them is unknown: parts {part_list(recovery.unknown)}",
            )

    def _check_late(self, decision: Decision) -> None:
        budget_ms = self.config.actuator.budget_ms
        if decision.latency_ms is None or decision.latency_ms <= budget_ms:
            return
        self.counters["plc_write_late"] += 1
        report = self._late.observe(decision, time.monotonic())
        if report:
            self.alarm.event("plc_write_late", f"{report}; budget {budget_ms:g} ms", part_id=decision.part_id)

    def _take_alarm(self, message: Alarm | AlarmStanding | AlarmCommand) -> None:
        """Onto the board; each change to the history (the recorder) and the observers."""
        for change in self.alarms.take(message):
            self.counters["alarms_forwarded"] += 1
            self._publish(change, what=f"alarm {change.code} from {change.source}")

    def _reconnect_in(self) -> float:
        """While the PLC is away: seconds until the next reconnect attempt (at most a second apart); else infinite.

        So the alarm clears within a second or two of the PLC's return, with no parts coming.
        """
        return float("inf") if self.link.up else self.plc.connection.retry_in()

    def _beat(self) -> None:
        try:
            self.plc.write_heartbeat(self.fault_code(), self.alarms.critical_standing())
            unacked = self.plc.unacknowledged()
        except PlcError as err:
            self._settle()  # the session may have read the tags back before it failed
            self._link_down(str(err))
            return
        self._settle()
        self._link_up()
        self._tags_refused(self.plc.refused_tags())
        if unacked is not None:
            self.counters["plc_unacknowledged"] += 1
            self.alarm.event("plc_ack_timeout", f"the PLC did not acknowledge result sequence {unacked} within {self.config.plc.ack_timeout_s}s")

    def fault_code(self) -> int:
        if time.monotonic() - self._last_failsafe > self.config.actuator.fault_hold_s:
            self.alarm.clear("line_stop_requested", "the fault hold after the last fail-safe decision has ended")
            return FAULT_NONE
        return FAULT_LINE_STOP if self.config.actuator.failsafe_action == "line_stop" else FAULT_FAILSAFE

    # -- alarms ---------------------------------------------------------------------
    def _on_failsafe(self, decision: Decision) -> None:
        self._last_failsafe = time.monotonic()
        why = decision.verdict.reason if decision.verdict is not None and decision.verdict.reason else "no verdict within the budget"
        self.alarm.event("failsafe_decision", f"part {decision.part_id}: {decision.result} ({why})", part_id=decision.part_id)
        if self.config.actuator.failsafe_action == "line_stop":
            self.alarm.raise_("line_stop_requested", f"line stop requested after fail-safe on part {decision.part_id}",
                              part_id=decision.part_id)

    def _link_down(self, error: str) -> None:
        if not self.link.up:
            return
        self.link = LinkState(up=False, since=time.monotonic())
        self.counters["plc_connection_lost"] += 1
        self.alarm.raise_("plc_connection_lost", f"PLC at {self.config.plc.address} unreachable: {error}")

    def _tags_refused(self, refused: str) -> None:
        """Raise ``plc_tag_refused`` naming each auxiliary tag the PLC refuses; clear it once it takes them all."""
        if refused:
            self.alarm.raise_("plc_tag_refused", f"PLC at {self.config.plc.address} refuses {refused}; results are "
                              "still delivered, the tag is tried again every few seconds")
        else:
            self.alarm.clear("plc_tag_refused", f"PLC at {self.config.plc.address} takes every auxiliary tag again")

    def _link_up(self) -> None:
        if self.link.up:
            return
        lost = self.link.undelivered
        away = time.monotonic() - self.link.since
        parts = f" (parts {min(lost)}..{max(lost)})" if lost else ""
        self.link = LinkState(up=True, since=time.monotonic())
        self.alarm.clear(
            "plc_connection_lost",
            f"PLC at {self.config.plc.address} reachable again after {away:.1f}s; {len(lost)} decision(s) were not delivered{parts}",
        )

    def _own_alarm(self, message: object) -> bool:
        """The actuator's own alarms: onto the board directly (this is the delivery thread)."""
        if isinstance(message, Alarm):
            self.counters[f"alarm_{message.code}"] += 1
        self._take_alarm(message)
        return True

    def _publish(self, message: Decision | Alarm, what: str) -> None:
        if not send_message(self._recorder, message):
            self.counters["unrecorded"] += 1
            log.error("recorder queue full; %s not recorded", what)
        send_message(self._events, message)

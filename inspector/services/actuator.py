"""Actuator service: one decision per triggered part, written to the PLC in time.

A part whose part-seen event never came (lost with a frozen or killed actuator) is decided too: when the next part's
sequence number shows the gap, and, when no later part comes, from the camera's trigger journal, read at start and
every few seconds (:mod:`inspector.actuator.seen_recovery`).
"""

from __future__ import annotations

import logging
import time

import zmq

from inspector.actuator.delivery import DecisionDelivery
from inspector.actuator.seen_recovery import LostPart, TriggerReconciler, lost_decision, lost_parts_text
from inspector.actuator.tracker import PartTracker
from inspector.bounded import clip
from inspector.errors import MessageError, StoreError
from inspector.messages import Alarm, AlarmCommand, AlarmStanding, PartSeen, Verdict
from inspector.services.base import Service
from inspector.transport import GapCounter, recv_message

log = logging.getLogger(__name__)

DRAIN_BUDGET_S = 0.02
MAX_LOST_DECIDED = 10_000  # lost part-seen events decided one by one; a larger jump in a sequence is not lost parts
REFUSALS_EVERY_S = 10.0  # the message_refused event: the first refusal at once, then at most one report this often


class ActuatorService(Service):
    kind = "actuator"
    restates_alarms = False  # its conditions (the PLC, the journal) are the delivery thread's: it owns them and the board

    def send_alarm(self, message: object) -> bool:
        """This process keeps the board: its own events go onto it through the delivery thread."""
        if not hasattr(self, "delivery"):
            return False
        self.delivery.submit_alarm(message)
        return True

    def setup(self) -> None:
        cfg = self.config
        self.tracker = PartTracker(cfg.station.name, cfg.actuator.budget_ms / 1000, cfg.actuator.failsafe_action)
        self.gaps = GapCounter()
        self.part_seen = self.sockets.open("part_seen")
        self.verdicts = self.sockets.open("verdicts")
        self.alarms = self.sockets.open("alarms")
        self.alarm_commands = self.sockets.open("alarm_commands")
        self.poller = zmq.Poller()
        self.poller.register(self.alarms, zmq.POLLIN)
        self.poller.register(self.alarm_commands, zmq.POLLIN)
        self.poller.register(self.part_seen, zmq.POLLIN)
        self.poller.register(self.verdicts, zmq.POLLIN)
        self.delivery = DecisionDelivery.for_station(cfg, self.sockets)
        self.journal = self.delivery.journal
        for camera, seq in self.delivery.recovery.seen_seq.items():  # part-seen events lost while down count as gaps
            self.gaps.observe(f"part_seen:{camera}", seq)
        self.reconciler = TriggerReconciler(cfg.station.name, [c.name for c in cfg.cameras], cfg.station.state_dir,
                                            self.delivery.gate, self.tracker.failsafe_result,
                                            self.delivery.recovery.trigger_marks, self.delivery.recovery.created)
        self.delivery.start()
        self._refused, self._last_refusal = 0, ""  # messages refused or dropped since the last report, the last's reason
        self._next_refusal_report = 0.0
        if self.metrics_registry is not None:
            from inspector.plant.metrics import StandingAlarms

            board = self.delivery.alarms.board
            self.metrics_registry.register(StandingAlarms(cfg.station.name, lambda: board.entries.values()))

    def step(self, timeout_s: float) -> None:
        deadline = self.tracker.next_deadline()
        if deadline is not None:
            timeout_s = max(0.0, min(timeout_s, deadline - time.time()))
        ready = dict(self.poller.poll(timeout_s * 1000))
        if self.part_seen in ready:
            self._drain(self.part_seen)
        if self.verdicts in ready:
            self._drain(self.verdicts)
        if self.alarms in ready:
            self._drain(self.alarms)
        if self.alarm_commands in ready:
            self._drain(self.alarm_commands)
        for decision in self.tracker.expire(time.time()):
            self.delivery.submit(decision)
        if self.reconciler.due(time.monotonic()):  # after the part-seen events waiting were taken
            self._reconcile(time.time())
        self._report_refusals()

    def _drain(self, sock: zmq.Socket) -> None:
        """Take what waits on ``sock`` for at most DRAIN_BUDGET_S: a flood (of malformed messages) leaves the rest
        queued, never the deadlines of parts already seen unattended."""
        until = time.monotonic() + DRAIN_BUDGET_S
        while time.monotonic() < until:
            try:
                message = recv_message(sock, zmq.NOBLOCK)
            except zmq.Again:
                return
            except MessageError as err:
                self.counters["malformed_messages"] += 1
                log.error("malformed message on the actuator's input: %s", clip(str(err)))
                self._refusal(str(err))
                continue
            try:
                self._take(message, sock, time.time())
            except Exception as err:  # noqa: BLE001 - the message boundary: no message stops the actuator
                what = f"a {type(message).__name__} (part {getattr(message, 'part_id', '-')})"
                self.message_failed(what, err)
                self._refusal(f"{what} could not be handled: {type(err).__name__}: {clip(str(err))}")

    def _refusal(self, reason: str) -> None:
        self._refused += 1
        self._last_refusal = reason

    def _report_refusals(self) -> None:
        """The message_refused event for the operator: the first refusal at once, then one report every
        REFUSALS_EVERY_S at most, with how many there were and the last one's reason."""
        if not self._refused or time.monotonic() < self._next_refusal_report:
            return
        self._next_refusal_report = time.monotonic() + REFUSALS_EVERY_S
        self.alarm.event("message_refused", f"{self._refused} message(s) on the actuator's input refused or dropped; "
                         f"the last: {clip(self._last_refusal, 240)}")
        self._refused = 0

    def _take(self, message: object, sock: zmq.Socket, now: float) -> None:
        """Handle one message from ``sock``: a part seen or its verdict may decide a part."""
        if isinstance(message, PartSeen):
            lost = self.gaps.observe(f"part_seen:{message.camera}", message.seq)
            if lost:
                try:
                    self._part_seen_lost(message, lost)
                except Exception as err:  # noqa: BLE001 - whatever deciding the lost ones raises, this part is decided
                    self.message_failed(f"the part-seen events lost before part {message.part_id}", err)
            if self.tracker.reused(message):
                self.alarm.event(
                    "part_id_reused",
                    f"part {message.part_id} of camera {message.camera} came again for another part (its part "
                    "counter was set back?): decided as any part and written to the PLC; its record is refused, the "
                    "first part's kept",
                    part_id=message.part_id,
                )
            self._journal_seen(message, now)
            decision = self.tracker.on_part_seen(message, now)
        elif isinstance(message, Verdict):
            decision = self.tracker.on_verdict(message, now)
        elif isinstance(message, (Alarm, AlarmStanding)) and sock is self.alarms:
            self.delivery.submit_alarm(message)
            return
        elif isinstance(message, AlarmCommand) and sock is self.alarm_commands:
            self.delivery.submit_alarm(message)
            return
        else:
            self.counters["unexpected_messages"] += 1
            log.error("unexpected %s on the actuator's input", type(message).__name__)
            return
        if decision is not None:
            self.delivery.submit(decision)

    def _part_seen_lost(self, part: PartSeen, lost: int) -> None:
        """Part-seen events that never arrived (lost in a killed or frozen actuator): their parts got no decision.

        The camera numbers its part-seen events and its part ids together (both one up per part within a run), so
        the lost parts' ids are the ones just before this part's. Each gets its one decision now, recorded and never
        written to the PLC (it is past the reject gate): the fail-safe result, as a part left undecided at a restart,
        with its trigger time from the camera's trigger journal when it holds it (else the next part's). A part
        decided already (from that journal) is not decided again.

        The camera journals each trigger before it sends the part-seen event, so where its journal can be read, a
        part it does not hold was never triggered: a sequence set forward or a key holder's forged event, not a lost
        part. Only journaled parts are decided then, and a forged jump queues no made-up decision ahead of real
        parts' writes. Without a journal (a camera on another host, or one that cannot be read), a jump of more than
        MAX_LOST_DECIDED is no run of lost parts either: the parts just before this one are decided, the alarm says
        how many were not.
        """
        decided = min(lost, MAX_LOST_DECIDED, part.part_id - 1)
        ids = [part.part_id - k for k in range(decided, 0, -1)]
        try:
            known = self._known(part.camera, ids)
        except StoreError as err:  # this run's parts are still known; an earlier run's decision is kept by the recorder
            log.error("parts before part %d: the journal cannot tell which were decided already: %s", part.part_id, err)
            known = self.tracker.knows(part.camera, ids)
        journaled = self.reconciler.trigger_times(part.camera, ids[0], ids[-1]) if ids else {}
        journal_read = journaled is not None
        never_triggered = {p for p in ids if p not in known and p not in journaled} if journal_read else set()
        journaled = journaled or {}
        lost_parts = []
        for part_id in ids:
            if part_id in known or part_id in never_triggered:
                continue
            trigger = journaled.get(part_id)
            why = ("its part-seen event was lost with the actuator: never decided in time; trigger time from the "
                   "camera's trigger journal" if trigger is not None else
                   "its part-seen event was lost with the actuator: never decided in time; trigger time not known: "
                   "that of the next part unless the detector recorded it")
            decision = lost_decision(self.config.station.name, part.camera, part_id,
                                     trigger.t_trigger if trigger is not None else part.t_trigger,
                                     self.tracker.failsafe_result, why)
            lost_parts.append(LostPart(decision, part.seq - (part.part_id - part_id)))
        self._decide_lost(lost_parts)
        if known:
            log.info("%d of the %d part(s) before part %d of camera %s were decided already from its trigger journal",
                     len(known), len(ids), part.part_id, part.camera)
        if never_triggered:
            self._sequence_jumped(part, lost, len(never_triggered))
        if not lost_parts and (journal_read or lost <= MAX_LOST_DECIDED):
            return
        count = len(lost_parts) + len(known) if journal_read else lost
        self.alarm.event(
            "part_seen_lost",
            f"{count} part-seen event(s) from camera {part.camera} were lost before part {part.part_id} "
            f"(sequence {part.seq - lost}..{part.seq - 1}): those parts got no decision from Inspector and the PLC's "
            f"sequence tag did not advance for them; recorded {self.tracker.failsafe_result}, not written: "
            + (f"parts {lost_parts[0].decision.part_id}..{lost_parts[-1].decision.part_id}" if lost_parts else
               "none left to decide")
            + (f" ({len(known)} of them decided already from the camera's trigger journal)" if known else "")
            + (f"; the {lost - decided} before them were not decided one by one (a jump of more than "
               f"{MAX_LOST_DECIDED} is no run of lost parts: a sequence set forward, or a forged event)"
               if lost > MAX_LOST_DECIDED and not journal_read else ""),
            part_id=part.part_id,
        )

    def _sequence_jumped(self, part: PartSeen, lost: int, never_triggered: int) -> None:
        self.counters["part_seen_jumped"] += 1
        self.alarm.event(
            "part_seen_jumped",
            f"camera {part.camera}'s part-seen sequence jumped by {lost + 1} to {part.seq} at part {part.part_id}, over "
            f"{never_triggered} part id(s) its trigger journal never held (a sequence set forward, or a forged event): "
            "no part lost, none decided for them",
            part_id=part.part_id,
        )

    def _reconcile(self, now: float) -> None:
        """Parts in the cameras' trigger journals the actuator never heard of, past their gate: decided now, with one
        ``part_seen_lost`` event naming them (see :mod:`inspector.actuator.seen_recovery`)."""
        try:
            done = self.reconciler.run(now, self._known)
        except Exception:  # noqa: BLE001 - a journal read must never stop the actuator; the next pass tries again
            self.counters["reconcile_failed"] += 1
            log.exception("reconciling the cameras' trigger journals failed")
            return
        self._decide_lost(done.decided)
        for camera, mark in done.marks.items():
            self.delivery.submit_mark(camera, mark)
        if done.decided:
            self.counters["parts_decided_from_trigger_journal"] += len(done.decided)
            self.alarm.event(
                "part_seen_lost",
                f"{len(done.decided)} part(s) were triggered (the camera's trigger journal holds them) but their part-seen "
                f"events never reached the actuator (lost with a frozen or killed actuator, no later part showed the gap): "
                f"they got no decision from Inspector in time; recorded {self.tracker.failsafe_result} with their trigger "
                f"times, not written: {lost_parts_text(done.decided)}",
                part_id=done.decided[0].decision.part_id,
            )

    def _decide_lost(self, lost: list[LostPart]) -> None:
        """Each lost part's one decision: known to the tracker at once (an event still coming decides nothing), then
        numbered, journaled and recorded by the delivery, in order with the others."""
        for part in lost:
            decision = part.decision
            self.tracker.decided_elsewhere(decision.camera, decision.part_id, decision.t_trigger)
            self.delivery.submit_unwritten(decision, part.seen_seq)

    def _known(self, camera: str, part_ids: list[int]) -> set[int]:
        """Which of these parts the actuator has seen or decided: this run's (the tracker) and every run's (the journal)."""
        known = self.tracker.knows(camera, part_ids)
        rest = [p for p in part_ids if p not in known]
        return known | self.journal.holds(camera, rest)

    def _journal_seen(self, part: PartSeen, now: float) -> None:
        try:
            self.journal.seen(part, now)
        except StoreError as err:  # the decision still goes to the PLC; delivery raises the alarm on its next write
            self.counters["journal_failed"] += 1
            log.error("part %d not journaled: %s", part.part_id, err)

    def heartbeat_counters(self) -> dict[str, int]:
        return {
            **self.counters,
            **self.tracker.counters,
            **self.delivery.counters,
            "pending": self.tracker.pending,
            "part_seen_missing": self.gaps.missing,
        }

    def teardown(self) -> None:
        if not hasattr(self, "delivery"):  # setup failed before delivery was made: nothing was accepted
            return
        if self.delivery.ident is None:  # made, never started (setup failed just after): nothing was accepted
            self.delivery.journal.close()
            self.delivery.alarms.close()
            return
        # parts still pending get their fail-safe now: none leaves without a decision
        for decision in self.tracker.fail_all(time.time()):
            self.delivery.submit(decision)
        self.delivery.close()  # its thread closes the journal after the last decision
        self.part_seen.close(0)
        self.verdicts.close(0)
        self.alarms.close(0)
        self.alarm_commands.close(0)

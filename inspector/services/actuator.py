"""Actuator service: one decision per triggered part, written to the PLC in time."""

from __future__ import annotations

import logging
import time

import zmq

from inspector.actuator.delivery import DecisionDelivery
from inspector.actuator.reject_gate import NOT_WRITTEN, not_written
from inspector.actuator.tracker import PartTracker
from inspector.bounded import clip
from inspector.errors import MessageError, StoreError
from inspector.messages import TRIGGER_TIME_UNKNOWN, Alarm, AlarmCommand, AlarmStanding, Decision, PartSeen, Verdict
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
                self._part_seen_lost(message, lost)
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
        written to the PLC (it is past the reject gate): the fail-safe result, as a part left undecided at a restart.
        A jump of more than MAX_LOST_DECIDED is no run of lost parts but a sequence set forward (or a forged event):
        the parts just before this one are decided, the alarm says how many were not.
        """
        decided = min(lost, MAX_LOST_DECIDED, part.part_id - 1)
        ids = [part.part_id - k for k in range(decided, 0, -1)]
        for part_id in ids:
            seen_seq = part.seq - (part.part_id - part_id)
            failsafe = self.tracker.failsafe_result
            self.delivery.submit_unwritten(not_written(
                Decision(self.config.station.name, part.camera, part_id, 0, failsafe, TRIGGER_TIME_UNKNOWN, part.t_trigger,
                         time.time(), False),
                failsafe, f"its part-seen event was lost with the actuator: never decided in time, {NOT_WRITTEN}; "
                "trigger time not known: that of the next part unless the detector recorded it",
            ), seen_seq)
        self.alarm.event(
            "part_seen_lost",
            f"{lost} part-seen event(s) from camera {part.camera} were lost before part {part.part_id} "
            f"(sequence {part.seq - lost}..{part.seq - 1}): those parts got no decision from Inspector and the PLC's "
            f"sequence tag did not advance for them; recorded {self.tracker.failsafe_result}, not written: parts "
            f"{ids[0] if ids else '?'}..{ids[-1] if ids else '?'}"
            + (f"; the {lost - decided} before them were not decided one by one (a jump of more than "
               f"{MAX_LOST_DECIDED} is no run of lost parts: a sequence set forward, or a forged event)"
               if lost > MAX_LOST_DECIDED else ""),
            part_id=part.part_id,
        )

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

"""Part tracking: deadlines, verdicts and fail-safe decisions.

Every part the camera saw gets exactly one decision: its detector's verdict
if it arrives before ``t_trigger + budget``, the configured fail-safe
otherwise. A verdict may arrive before its part-seen event (the two travel on
different sockets); it waits for it. A verdict for a part already decided is
late: counted and logged, never a second decision. A part decided without
its part-seen event (the event was lost: :mod:`inspector.actuator.seen_recovery`)
is remembered as decided too: an event that still comes for it is late and
decides nothing. No sockets here, so the rules are tested directly.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass

from inspector.messages import Decision, DecisionResult, DecisionSource, PartSeen, Verdict

log = logging.getLogger(__name__)

PartKey = tuple[str, int]  # camera, part id
REMEMBER_DECIDED = 20_000
SAME_TRIGGER_S = 0.001  # a part-seen event repeated carries its part's trigger time; another part's differs


def failsafe_result(failsafe_action: str) -> DecisionResult:
    """What a part without a verdict in time gets ('line_stop' rejects it too; the stop goes out as the fault code)."""
    return "FAILSAFE_PASS" if failsafe_action == "pass" else "FAILSAFE_REJECT"


@dataclass(frozen=True)
class _Early:
    verdict: Verdict
    expires: float


class PartTracker:
    def __init__(self, station: str, budget_s: float, failsafe_action: str) -> None:
        self.station = station
        self.budget_s = budget_s
        self.failsafe_result = failsafe_result(failsafe_action)
        self.counters: Counter[str] = Counter()
        self._pending: dict[PartKey, PartSeen] = {}
        self._deadlines: list[tuple[float, PartKey]] = []
        self._decided: OrderedDict[PartKey, float] = OrderedDict()  # key -> its part's trigger time
        self._early: dict[PartKey, _Early] = {}
        self._recovered: OrderedDict[PartKey, float] = OrderedDict()  # decided without their part-seen event

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next_deadline(self) -> float | None:
        return self._deadlines[0][0] if self._deadlines else None

    def reused(self, seen: PartSeen) -> bool:
        """Whether ``seen`` is another part under the id of a part decided already (another trigger time): a part
        counter set back. It is decided as any part (it is on the line); its record is refused, the first kept."""
        t_decided = self._decided.get((seen.camera, seen.part_id))
        return t_decided is not None and abs(t_decided - seen.t_trigger) > SAME_TRIGGER_S and not self._late(seen)

    def knows(self, camera: str, part_ids: list[int]) -> set[int]:
        """Which of ``part_ids`` of ``camera`` this run has seen or decided (its decision may not be journaled yet)."""
        return {p for p in part_ids if (camera, p) in self._pending or (camera, p) in self._decided}

    def decided_elsewhere(self, camera: str, part_id: int, t_trigger: float) -> None:
        """A part decided without its part-seen event (lost, or not come yet): its event, should it still come, is late."""
        key = (camera, part_id)
        self._remember(self._decided, key, t_trigger)
        self._remember(self._recovered, key, t_trigger)
        self.counters["decided_without_part_seen"] += 1

    def _late(self, seen: PartSeen) -> bool:
        t_trigger = self._recovered.get((seen.camera, seen.part_id))
        return t_trigger is not None and abs(t_trigger - seen.t_trigger) <= SAME_TRIGGER_S

    @staticmethod
    def _remember(memory: OrderedDict[PartKey, float], key: PartKey, t_trigger: float) -> None:
        memory[key] = t_trigger
        memory.move_to_end(key)
        if len(memory) > REMEMBER_DECIDED:
            memory.popitem(last=False)

    def on_part_seen(self, seen: PartSeen, now: float) -> Decision | None:
        key = (seen.camera, seen.part_id)
        if self._late(seen):  # decided already, from the camera's trigger journal: nothing to decide
            self.counters["part_seen_after_recovery"] += 1
            log.info("part %d of camera %s: its part-seen event came after the part was decided without it; ignored",
                     seen.part_id, seen.camera)
            return None
        if self.reused(seen):
            self.counters["part_id_reused"] += 1
            del self._decided[key]
        elif key in self._pending or key in self._decided:
            self.counters["duplicate_part_seen"] += 1
            log.warning("part %d of camera %s seen twice; ignoring the repeat", seen.part_id, seen.camera)
            return None
        self.counters["parts_seen"] += 1
        deadline = seen.t_trigger + self.budget_s
        early = self._early.pop(key, None)
        if early is not None:
            return self._decide_with_verdict(seen, early.verdict, now)
        if now >= deadline:
            return self._failsafe(seen, now, "deadline")
        self._pending[key] = seen
        heapq.heappush(self._deadlines, (deadline, key))
        return None

    def on_verdict(self, verdict: Verdict, now: float) -> Decision | None:
        key = (verdict.camera, verdict.part_id)
        seen = self._pending.pop(key, None)
        if seen is not None:
            return self._decide_with_verdict(seen, verdict, now)
        if key in self._decided:
            self.counters["late_verdicts"] += 1
            log.warning("verdict for part %d arrived after its decision (%s); ignored", verdict.part_id, verdict.result)
            return None
        if key in self._early:
            self.counters["duplicate_verdicts"] += 1
            log.warning("second verdict for part %d before its part-seen event; keeping the first", verdict.part_id)
            return None
        self._early[key] = _Early(verdict, now + 2 * self.budget_s)
        return None

    def expire(self, now: float) -> list[Decision]:
        """Fail-safe decisions for every pending part whose deadline has passed."""
        decisions = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, key = heapq.heappop(self._deadlines)
            seen = self._pending.pop(key, None)
            if seen is not None:
                decisions.append(self._failsafe(seen, now, "deadline"))
        for key in [k for k, e in self._early.items() if e.expires <= now]:
            self.counters["orphan_verdicts"] += 1
            log.error("verdict for part %d never matched a part-seen event", key[1])
            del self._early[key]
        return decisions

    def fail_all(self, now: float) -> list[Decision]:
        """Fail-safe decisions for every pending part (at shutdown: none leaves undecided)."""
        decisions = [self._failsafe(seen, now, "deadline") for seen in self._pending.values()]
        self._pending.clear()
        self._deadlines.clear()
        self.counters["orphan_verdicts"] += len(self._early)
        self._early.clear()
        return decisions

    def _decide_with_verdict(self, seen: PartSeen, verdict: Verdict, now: float) -> Decision:
        if now >= seen.t_trigger + self.budget_s:  # at the deadline is too late, as in expire()
            self.counters["late_verdicts"] += 1
            return self._failsafe(seen, now, "deadline")
        if verdict.result == "FAILSAFE":
            return self._failsafe(seen, now, "detector_error", verdict)
        return self._record(seen, verdict.result, "verdict", now, verdict)

    def _failsafe(
        self, seen: PartSeen, now: float, source: DecisionSource, verdict: Verdict | None = None
    ) -> Decision:
        self.counters[f"failsafe_{source}"] += 1
        log.warning("part %d: fail-safe %s (%s)", seen.part_id, self.failsafe_result, source)
        return self._record(seen, self.failsafe_result, source, now, verdict)

    def _record(
        self, seen: PartSeen, result: DecisionResult, source: DecisionSource, now: float, verdict: Verdict | None
    ) -> Decision:
        self._remember(self._decided, (seen.camera, seen.part_id), seen.t_trigger)
        self.counters["decisions"] += 1
        return Decision(
            station=self.station,
            camera=seen.camera,
            part_id=seen.part_id,
            seq=0,  # numbered by the sender of the decision stream
            result=result,
            source=source,
            t_trigger=seen.t_trigger,
            t_decided=now,
            plc_delivered=False,
            verdict=verdict,
        )

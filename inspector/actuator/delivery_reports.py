"""What the delivery thread keeps about the PLC link and reports in batches (late writes, parts past the gate).

A burst (a PLC that stalls, the part-seen events queued over an outage)
makes one report at once and then at most one per period with everything
since, so the alarm history names every part without one alarm per part.
"""

from __future__ import annotations

import dataclasses

from inspector.actuator.journal import part_list
from inspector.actuator.reject_gate import RejectGate
from inspector.messages import Decision

REPORT_PERIOD_S = 10.0


class LateWrites:
    """PLC writes confirmed past the budget: the first reported at once, then at most one report per period."""

    def __init__(self, period_s: float = REPORT_PERIOD_S) -> None:
        self.period_s = period_s
        self._next_report = 0.0
        self._since: list[Decision] = []

    def observe(self, decision: Decision, now: float) -> str:
        self._since.append(decision)
        if now < self._next_report:
            return ""
        late, self._since = self._since, []
        self._next_report = now + self.period_s
        worst = max(late, key=lambda d: d.latency_ms or 0.0)
        return (f"{len(late)} PLC write(s) confirmed after the budget (parts {part_list(late)}); "
                f"the latest confirmation came {worst.latency_ms:.0f} ms after its trigger")


@dataclasses.dataclass
class LinkState:
    """Whether the PLC is reachable, since when, and what was lost meanwhile."""

    up: bool = True
    since: float = 0.0
    undelivered: list[int] = dataclasses.field(default_factory=list)


class PastGateReports:
    """Decisions past the gate: the first reported at once, the rest together at most once per period."""

    def __init__(self, gate: RejectGate, period_s: float = REPORT_PERIOD_S) -> None:
        self.gate = gate
        self.period_s = period_s
        self._next_report = 0.0
        self._since: list[tuple[Decision, float]] = []

    def observe(self, decision: Decision, late_s: float) -> None:
        """A decision past the gate, ``late_s`` after its trigger when it reached the PLC writer."""
        self._since.append((decision, late_s))

    def due(self, now: float) -> tuple[str, int | None]:
        """The report to make now (monotonic ``now``) and its first part; ('', None) while the period runs or none came."""
        if not self._since or now < self._next_report:
            return "", None
        due, self._since = self._since, []
        self._next_report = now + self.period_s
        late = [late_s for _, late_s in due]
        decisions = [d for d, _ in due]
        return (f"{len(due)} decision(s) reached the PLC writer after their part had passed the reject gate "
                f"({min(late):.1f}-{max(late):.1f}s after the trigger; deadline + gate window "
                f"{self.gate.budget_s * 1000:g} + {self.gate.window_s * 1000:g} ms): recorded {decisions[0].result}, "
                f"not written to the PLC: parts {part_list(decisions)}"), decisions[0].part_id

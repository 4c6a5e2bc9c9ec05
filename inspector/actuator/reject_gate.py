"""The reject gate: a decision for a part that has passed it is recorded, never written to the PLC.

A part reaches the reject gate some time after its deadline (``t_trigger +
actuator.budget_ms``); the PLC can act on a result until then, within
``actuator.gate_window_ms`` of the deadline. Later the part is gone: a result
written then would be latched for a part no longer there, and the PLC's
tracking could apply it to the part behind. So, after any outage (the
actuator restarted and the part-seen events queued for it arrive at once, a
PLC away, a backlog behind a slow write), a decision whose part is past the
gate is not written. Its part gets the fail-safe decision, recorded with the
reason (the detector's verdict, if one came, is kept beside it); the PLC
decides such a part by its own rules, as any part without a result.

This module is the one place for that rule: the delivery thread asks
:meth:`RejectGate.passed` before every PLC write, and every decision that is
final without a write (a part the last run left undecided, a part whose
part-seen event was lost, a part past the gate) is made by :func:`not_written`.
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec.structs import replace

from inspector.messages import Decision, DecisionResult

NOT_WRITTEN = "not written to the PLC (the part is past the reject gate)"


@dataclass(frozen=True)
class RejectGate:
    """When each part's reject gate closes: its deadline plus the gate window."""

    budget_s: float
    window_s: float

    def closes_at(self, t_trigger: float) -> float:
        return t_trigger + self.budget_s + self.window_s

    def passed(self, t_trigger: float, now: float) -> bool:
        """Whether a part triggered at ``t_trigger`` is past the reject gate at ``now`` (epoch s)."""
        return now > self.closes_at(t_trigger)

    def why(self, decision: Decision, now: float) -> str:
        """The reason a decision reaching the PLC writer at ``now`` is not written."""
        return (f"reached the PLC writer {now - decision.t_trigger:.1f}s after its trigger, past its deadline and the "
                f"gate window ({self.budget_s * 1000:g} + {self.window_s * 1000:g} ms): {NOT_WRITTEN}")


def not_written(decision: Decision, failsafe: DecisionResult, why: str) -> Decision:
    """The final decision of a part decided without a PLC write: the fail-safe result, undelivered, with the reason.

    A verdict's decision keeps its verdict (the detector's result stays in the record beside the fail-safe one).
    """
    source = decision.source if decision.result == failsafe else "deadline"
    return replace(decision, result=failsafe, source=source, plc_delivered=False, t_plc_sent=None,
                               t_plc_written=None, plc_seq=None, plc_error=why)

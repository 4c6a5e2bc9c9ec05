"""The ``actuator`` and ``plc`` sections of the station config: the decision's budget and fail-safe, the PLC and its tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.typed import spec

FailsafeAction = Literal["reject", "pass", "line_stop"]
TagTypeSource = Literal["declared", "upload"]
PlcTagType = Literal["DINT", "INT", "SINT", "REAL", "BOOL"]


@dataclass(frozen=True)
class ActuatorConfig:
    budget_ms: float = spec(250.0, doc="Trigger-to-decision budget; past it the fail-safe action is applied.", minimum=1)
    failsafe_action: FailsafeAction = spec(
        "reject",
        doc="What a part without a verdict in time gets: 'reject', 'pass', or 'line_stop' (reject it and request a line stop through the fault-code tag).",
    )
    gate_window_ms: float = spec(
        1000.0,
        doc="How long after a part's deadline the PLC can still act on its result (its travel to the reject gate). "
        "A decision that would reach the PLC later (after an outage, a restart, a backlog) is recorded fail-safe "
        "with the reason and not written: the part is past the gate (inspector/actuator/reject_gate.py).",
        minimum=0,
    )
    fault_hold_s: float = spec(5.0, doc="A fail-safe fault code stays on the PLC this long after the last fail-safe decision.", minimum=0)
    journal_keep_hours: float = spec(
        72.0,
        doc="The actuator journals every part and decision (station.state_dir/actuator-journal.db, committed before "
        "the PLC write, synced after it) so none is lost across crashes; final entries are kept this long. Each "
        "camera's trigger journal (station.state_dir/trigger-journal-CAMERA.db, every trigger before its part-seen "
        "event, read by the actuator to decide parts whose event was lost) keeps its triggers this long too.",
        minimum=1,
    )


@dataclass(frozen=True)
class PlcTag:
    name: str = spec(doc="Controller tag name.")
    type: PlcTagType = spec("DINT", doc="Logix data type of the tag.")


@dataclass(frozen=True)
class PlcTags:
    part_id: PlcTag = spec(factory=lambda: PlcTag("Inspector_PartId"), doc="Receives the decided part's id.")
    result: PlcTag = spec(factory=lambda: PlcTag("Inspector_Result"), doc="Receives the result code (1 pass, 2 reject, 3 fail-safe reject, 4 fail-safe pass).")
    sequence: PlcTag = spec(factory=lambda: PlcTag("Inspector_ResultSeq"), doc="Incremented with every decision, so PLC logic latches each result once.")
    inspections: PlcTag | None = spec(None, doc="Optional: count of decisions delivered since the actuator started, written with each heartbeat.")
    heartbeat: PlcTag | None = spec(None, doc="Optional: counter incremented every 'heartbeat_period_s'; the PLC's watchdog on Inspector.")
    fault_code: PlcTag | None = spec(None, doc="Optional: Inspector's fault (0 none, 1 fail-safe decisions, 2 line stop requested), written with each heartbeat.")
    alarms: PlcTag | None = spec(None, doc="Optional: how many critical alarms are active (0 = none), written with each heartbeat.")
    ack: PlcTag | None = spec(None, doc="Optional, read: the PLC copies the result sequence it latched here; see 'ack_timeout_s'.")

    def written(self) -> list[PlcTag]:
        """Every tag Inspector writes (never any other)."""
        optional = [self.inspections, self.heartbeat, self.fault_code, self.alarms]
        return [*self.results(), *[t for t in optional if t is not None]]

    def results(self) -> list[PlcTag]:
        """The tags each decision is written to, in one request: a PLC without them refuses the connection."""
        return [self.part_id, self.result, self.sequence]

    def auxiliary(self) -> dict[str, PlcTag]:
        """The optional tags configured, by key (inspections, heartbeat, fault_code, alarms, ack).

        Each is written (ack: read) in its own request, never with a result: a
        tag the PLC refuses raises an alarm and costs no decision.
        """
        optional = {"inspections": self.inspections, "heartbeat": self.heartbeat, "fault_code": self.fault_code,
                    "alarms": self.alarms, "ack": self.ack}
        return {key: tag for key, tag in optional.items() if tag is not None}

    def all(self) -> list[PlcTag]:
        return self.written() + ([self.ack] if self.ack is not None else [])


@dataclass(frozen=True)
class PlcConfig:
    address: str = spec("127.0.0.1:44818", doc="Controller IP address[:port] or pycomm3 path (for example '10.0.0.5/0').")
    simulator: bool = spec(False, doc="Start the cpppo Logix simulator on 'address' (demo and tests; never on a real line).")
    tag_types: TagTypeSource = spec(
        "declared", doc="'declared': take tag types from this config (fast connect; the only way with the simulator); 'upload': read the controller's tag list."
    )
    timeout_s: float = spec(1.0, doc="Socket timeout of one PLC request; bounds how long a lost PLC goes unnoticed.", minimum=0.05, maximum=60)
    reconnect_backoff_max_s: float = spec(
        1.0, doc="Longest wait between reconnect attempts (from 0.1 s, doubling). The PLC's return is seen, and "
        "plc_connection_lost cleared, within this time: keep it at 1 s or less for the 2 s an operator expects.",
        minimum=0.1, maximum=60,
    )
    heartbeat_period_s: float = spec(0.5, doc="Period of the auxiliary tags' write (heartbeat, fault code, alarm count, inspections).", minimum=0.05)
    ack_timeout_s: float = spec(0.0, doc="With tags.ack: alarm when the PLC has not acknowledged a result within this time (0 = off).", minimum=0)
    tags: PlcTags = spec(factory=PlcTags, doc="Tags Inspector writes, with their declared types.")

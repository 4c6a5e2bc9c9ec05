"""The vision system's state, as OPC 40100's VisionStateMachine names it, from what the line's events show.

- Preoperational: the server runs, its feed of the line's events is not open yet;
- Initialized: the feed is open, no part decided since;
- ContinuousExecution: parts are being decided (the last one within ``idle_s``);
- Ready: no part for ``idle_s`` (the line waits for parts);
- Error: a critical alarm stands on the station's alarm board (active, not shelved), as the PLC's alarm tag counts it.

Inspector has no single-shot trigger from outside, so SingleExecution is never entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.messages import AlarmEntry, Decision

STATES = ("Preoperational", "Initialized", "Ready", "SingleExecution", "ContinuousExecution", "Error")
STATE_NUMBERS = {name: i for i, name in enumerate(STATES)}


@dataclass
class VisionState:
    idle_s: float = 5.0
    feed_open: bool = False
    last_part_t: float | None = None  # local clock of the last decision seen
    critical: dict[str, str] = field(default_factory=dict)  # standing critical alarm (source/code) -> text

    def on_decision(self, decision: Decision, now: float) -> None:
        self.last_part_t = now

    def on_board(self, entries: list[AlarmEntry], now: float) -> None:
        """The station's alarm board (sent every second and on every change): its standing critical alarms."""
        self.critical = {f"{e.source}/{e.code}": e.text for e in entries if e.severity == "critical" and e.standing(now)}

    def current(self, now: float) -> str:
        if not self.feed_open:
            return "Preoperational"
        if self.critical:
            return "Error"
        if self.last_part_t is None:
            return "Initialized"
        return "ContinuousExecution" if now - self.last_part_t <= self.idle_s else "Ready"

    def error_text(self) -> str:
        return "; ".join(f"{code}: {text}" for code, text in sorted(self.critical.items()))

"""The ``alarms`` section of the station config: how long alarms stay on the board, how long they may be shelved."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


@dataclass(frozen=True)
class AlarmsConfig:
    unacked_keep_h: float = spec(
        8.0,
        doc="An event, or a condition that returned to normal, stays on the operator's list until acknowledged or this "
        "long after it last occurred (it stays in the history either way).",
        minimum=0.01,
        maximum=720,
    )
    max_shelve_h: float = spec(
        8.0,
        doc="Longest time a quality engineer or admin may shelve an alarm (with a reason); it returns by itself after.",
        minimum=0.1,
        maximum=168,
    )

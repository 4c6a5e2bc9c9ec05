"""The auxiliary tags' state: which ones are in use, which the PLC refused, when each is tried again.

An auxiliary tag (inspections, heartbeat, fault code, alarm count, ack) the
PLC refuses, or whose request breaks the session, is taken out of the
periodic write and tried again alone every ``recheck_s`` (checked on the
controller, then written or read by itself): fixing the PLC program brings it
back within seconds, without a restart. A refused auxiliary tag never costs a
result: results are written in their own request.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.bounded import clip
from inspector.config.schema import PlcTag, PlcTags

RECHECK_S = 5.0
REASON_LIMIT = 160  # characters of the PLC's reply kept per tag (an alarm's text names every refused tag)


@dataclass
class Refusal:
    reason: str
    next_check: float  # time.monotonic() of the next try


class AuxTags:
    def __init__(self, tags: PlcTags, recheck_s: float = RECHECK_S) -> None:
        self.tags: dict[str, PlcTag] = tags.auxiliary()
        self.recheck_s = recheck_s
        self.refused: dict[str, Refusal] = {}  # by key (``alarms``, ...)

    def usable(self, key: str) -> bool:
        """Configured and not refused."""
        return key in self.tags and key not in self.refused

    def keys_of(self, names: dict[str, str] | set[str]) -> list[str]:
        """The keys of the configured tags with these names."""
        return [key for key, tag in self.tags.items() if tag.name in names]

    def refuse(self, key: str, reason: str, now: float) -> None:
        """Take ``key`` out of use; try it again ``recheck_s`` from ``now``."""
        self.refused[key] = Refusal(clip(reason, REASON_LIMIT), now + self.recheck_s)

    def refuse_names(self, problems: dict[str, str], now: float) -> None:
        """Refuse every tag named in ``problems`` (tag name -> what the PLC said)."""
        for key in self.keys_of(problems):
            self.refuse(key, problems[self.tags[key].name], now)

    def new_session(self, problems: dict[str, str], now: float) -> None:
        """A (re)connect: refuse the tags its check found wrong; try the other refused ones at once (a new PLC program?)."""
        self.refuse_names(problems, now)
        for key in set(self.refused) - set(self.keys_of(problems)):
            self.refused[key].next_check = now

    def accept(self, key: str) -> None:
        self.refused.pop(key, None)

    def due(self, now: float) -> list[str]:
        """The refused keys whose next try is due."""
        return [key for key, refusal in self.refused.items() if refusal.next_check <= now]

    def describe(self) -> str:
        """'' if none is refused, else each refused tag with its key and the reason."""
        return "; ".join(f"{self.tags[key].name} ({key}): {refusal.reason}" for key, refusal in sorted(self.refused.items()))

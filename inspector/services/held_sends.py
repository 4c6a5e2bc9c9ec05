"""Sends held back for a moment, so that bulky traffic does not compete with the line's next hop.

A rejected part's image (hundreds of kilobytes to megabytes) goes from the
detector to the recorder, which encodes it as PNG. Sent with the verdict,
that copy and encoding run on the same cores, at the same moment, as the
actuator's decision and its PLC write; on a 2-core machine they delayed the
write request by up to 3-6 ms for one part in ten. Held back a few
milliseconds, they run after it instead. Nothing is dropped: what is held is sent when due, or
at once when the service stops.
"""

from __future__ import annotations

from collections import deque
from typing import Callable


class HeldSends:
    """Calls each held send once it has waited ``hold_s`` (in the order held); ``hold_s`` 0 sends at once."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._held: deque[tuple[float, Callable[[], None]]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, send: Callable[[], None], now: float) -> None:
        if self.hold_s <= 0:
            send()
        else:
            self._held.append((now + self.hold_s, send))

    def wait_s(self, timeout_s: float, now: float) -> float:
        """``timeout_s``, shortened so a poll wakes up when the next held send is due."""
        if not self._held:
            return timeout_s
        return max(0.0, min(timeout_s, self._held[0][0] - now))

    def release_due(self, now: float) -> int:
        """Send what is due; return how many were sent."""
        sent = 0
        while self._held and self._held[0][0] <= now:
            self._held.popleft()[1]()
            sent += 1
        return sent

    def release_all(self) -> int:
        sent = len(self._held)
        while self._held:
            self._held.popleft()[1]()
        return sent

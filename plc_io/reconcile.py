"""Whether a result write that got no answer was latched by the PLC: read back, never guessed.

A write request can go out and its answer never come: the PLC froze, the
network dropped, the reply was lost ("failed to receive reply"). The session
is dropped then, and the PLC may or may not have taken the request: a PLC
that resumes after a pause works through what it had received and latches
the result late. So the write is *in doubt* (:class:`InDoubt`) until the next
session, whose first request reads the PLC's part id, result and sequence
tags back (:meth:`InDoubt.settle`):

- the PLC holds the part id, result and sequence of the write in doubt: it
  latched it, late. The decision is delivered, with that sequence; the read
  back is the moment it is known to be there (an upper bound on how late);
- anything else: the PLC never latched it. The decision stays undelivered (it
  is never written again: its part has passed the reject gate by then).

The sequence changes with every result, so a match is the write in doubt
itself, never an older result under the same values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InDoubt:
    """A result write whose request went out without an answer, as the PLC's tags would show it if latched."""

    part_id: int  # the decision's part id (the record's, full width)
    part_tag: int  # the value the part-id tag holds for it (wrapped into its type)
    result_code: int
    sequence: int
    t_sent: float  # epoch s, the request went to the driver
    error: str  # why no answer came

    def settle(self, held: "HeldResult", t_read: float) -> "Settled":
        """What the PLC's result tags, read back at a new session, say about this write."""
        latched = (held.part_tag, held.result_code, held.sequence) == (self.part_tag, self.result_code, self.sequence)
        return Settled(self, latched, held, t_read)


@dataclass(frozen=True)
class HeldResult:
    """The PLC's result tags as read."""

    part_tag: int
    result_code: int
    sequence: int


@dataclass(frozen=True)
class Settled:
    """A write in doubt, settled by the PLC's own tags."""

    write: InDoubt
    latched: bool
    held: HeldResult
    t_read: float  # epoch s, the tags were read back

    @property
    def late_s(self) -> float:
        """From the request to the read back that found it latched (an upper bound on how late the PLC took it)."""
        return self.t_read - self.write.t_sent

    def describe(self) -> str:
        """What the record and the alarm say about it."""
        w = self.write
        if self.latched:
            return (f"no answer to the write ({w.error}), but the PLC latched it late: its part id, result and "
                    f"sequence {w.sequence} read back at the reconnect, {self.late_s:.1f}s after the write")
        return (f"not delivered: no answer to the write ({w.error}) and the PLC did not latch it (read back at the "
                f"reconnect: sequence {self.held.sequence}, part id tag {self.held.part_tag}, not {w.sequence}, "
                f"{w.part_tag})")

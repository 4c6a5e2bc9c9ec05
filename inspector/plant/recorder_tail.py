"""Reading what the recorder stored, in order, for the publisher: decided parts and alarms (its queries:
:mod:`inspector.records.tail`).

The publisher takes its results from the recorder's database rather than from
the line's sockets: every decision is there exactly once, durably, whatever
crashed on the way (the recorder reconciles with the actuator's journal), so
the publisher can fall behind, restart or stop without costing the line or
losing a part.

Parts are read in the order their rows were made (SQLite rowid). A row made
by a part's image before its decision arrived has no result yet: the reading
position stays before it (up to ``PENDING_WAIT_S``) while later decided rows
are taken and marked, so no part is published twice or skipped. (Such a row
holds no trigger time yet: the wait is counted from when this reader first saw it.)

Positions are rowids of one database file. When the recorder replaces its
database (a corrupt one is moved aside and a new one started), the publisher
sees another file at the path and starts reading the new one from its first
row (:data:`IDENTITY`, kept with the positions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.records.tail import KPI_COUNTS, FollowedDatabase

log = logging.getLogger(__name__)

PENDING_WAIT_S = 600.0  # a part row without a decision after this long is passed over (the recorder alarms on such gaps)
PARTS = "parts"  # the outbox's reading positions, named after the tables they are in
ALARMS = "alarms"
IDENTITY = "recorder_database_inode"


def count_parts(parts: list[dict[str, Any]]) -> dict[str, int]:
    """How many of these decided part rows passed, were rejected, were decided by the fail-safe."""
    counts = dict.fromkeys(KPI_COUNTS, 0)
    for p in parts:
        counts["inspected"] += 1
        result = p["result"]
        if result == "PASS":
            counts["passed"] += 1
        elif result == "REJECT":
            counts["rejected"] += 1
        elif result.startswith("FAILSAFE"):
            counts["failsafe"] += 1
    return counts


@dataclass
class Batch:
    parts: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    taken: dict[str, list[int]] = field(default_factory=dict)
    released: dict[str, int] = field(default_factory=dict)
    held_back: bool = False  # more rows are waiting than there was room for


class RecorderTail:
    """Raises :class:`~inspector.errors.StoreError` when the database cannot be read (busy, being replaced)."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self._db = FollowedDatabase(database)
        self._pending_since: dict[int, float] = {}  # rows without a decision yet: when this reader first saw them

    def identity(self) -> int:
        """Which database file is at the path now (its inode; 0 while there is none)."""
        return self._db.identity()

    def read(self, part_position: int, taken: set[int], alarm_position: int, room: int, now: float | None = None) -> Batch:
        """Rows past the positions, at most ``room`` of them, and where the positions move to."""
        batch = Batch()
        if self._db.conn() is None or room <= 0:
            batch.held_back = room <= 0
            return batch
        now = time.monotonic() if now is None else now
        rows = self._db.parts_after(part_position, room + len(taken) + 200)
        alarms = self._db.alarms_after(alarm_position, room)
        position, pending = part_position, False
        for row in rows:
            key = row["row_key"]
            if key in taken:
                if not pending:
                    position = key
                continue
            if row["result"] is None:
                if now - self._pending_since.setdefault(key, now) < PENDING_WAIT_S:
                    pending = True
                    continue
                if not pending:
                    position = key  # given up on: never decided
                    log.warning("part row %d (camera %s, part %s) has had no decision for %.0f s: not published",
                                key, row["camera"], row["part_id"], PENDING_WAIT_S)
                continue
            self._pending_since.pop(key, None)
            if len(batch.parts) + len(batch.alarms) >= room:
                batch.held_back = True
                break
            batch.parts.append(dict(row))
            if pending:
                batch.taken.setdefault(PARTS, []).append(key)
            else:
                position = key
        batch.positions[PARTS] = position
        for key in [k for k in self._pending_since if k <= position]:
            del self._pending_since[key]
        if position > part_position:
            batch.released[PARTS] = position
        for alarm in alarms:
            if len(batch.parts) + len(batch.alarms) >= room:
                batch.held_back = True
                break
            batch.alarms.append(dict(alarm))
            batch.positions[ALARMS] = alarm["id"]
        return batch

    def window_counts(self, since: float) -> dict[str, int]:
        """Counts of the parts triggered since ``since`` (a range of the trigger-time index, never the whole table)."""
        return self._db.window_counts(since)

    def close(self) -> None:
        self._pending_since.clear()
        self._db.close()


def follow_database(tail: RecorderTail, outbox) -> bool:
    """Keep the outbox's positions on the database file now at the path; True when they were reset for a new one.

    ``outbox`` is an :class:`inspector.plant.outbox.Outbox`."""
    ident, known = tail.identity(), outbox.position(IDENTITY)
    if not ident or ident == known:
        return False
    outbox.put([], {IDENTITY: ident, PARTS: 0, ALARMS: 0}, released={PARTS: 2**62})
    return bool(known)

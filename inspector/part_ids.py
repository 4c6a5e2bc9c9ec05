"""Part ids that stay unique across camera restarts.

Ids are handed out from blocks; the start of the next block is written to a
small state file before the first id of a block is used, so a restarted
camera continues after the last block and never repeats an id (at the cost of
skipping the rest of a block). Ids fit the PLC's DINT.
"""

from __future__ import annotations

import os
from pathlib import Path

from inspector.errors import InspectorError

BLOCK = 1000
MAX_PART_ID = 2**31 - 1


class PartIdAllocator:
    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self._next = self._read()
        self._block_end = self._next

    def _read(self) -> int:
        try:
            text = self.state_file.read_text().strip()
        except FileNotFoundError:
            return 1
        if not text.isdigit():
            raise InspectorError(f"part-id state file {self.state_file} is corrupt: {text[:40]!r}")
        return int(text)

    def next(self) -> int:
        if self._next >= self._block_end:
            self._block_end = self._next + BLOCK
            if self._block_end > MAX_PART_ID:
                self._next, self._block_end = 1, 1 + BLOCK  # wrap like a PLC tracking number
            self._persist(self._block_end)
        part_id = self._next
        self._next += 1
        return part_id

    def _persist(self, value: int) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(f"{value}\n")
        os.replace(tmp, self.state_file)

"""Part ids that stay unique for the life of the station.

Ids are 64-bit (1 .. 2**63 - 1, what SQLite's INTEGER holds): at 500 parts a
second they last longer than any station, so they never wrap and the records
never meet an id twice. The PLC's DINT part-id tag shows them wrapped
(:func:`plc_io.tag_values.plc_part_id`); the record keeps the full id.

Ids are handed out from blocks; the start of the next block is written to a
small state file before the first id of a block is used, so a restarted
camera continues after the last block and never repeats an id (at the cost of
skipping the rest of a block). A state file written before ids were 64-bit
holds the same number and is continued.
"""

from __future__ import annotations

import os
from pathlib import Path

from inspector.errors import InspectorError

BLOCK = 1000
MIN_PART_ID, MAX_PART_ID = 1, 2**63 - 1  # the one bound every message carrying a part id checks (inspector.messages)


class PartIdAllocator:
    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self._next = self._read()
        self._block_end = self._next

    def _read(self) -> int:
        try:
            text = self.state_file.read_text().strip()
        except FileNotFoundError:
            return MIN_PART_ID
        if not text.isdigit() or not MIN_PART_ID <= int(text) <= MAX_PART_ID + 1:
            raise InspectorError(f"part-id state file {self.state_file} is corrupt: {text[:40]!r}")
        return int(text)

    def next(self) -> int:
        if self._next >= self._block_end:
            block_end = min(self._next + BLOCK, MAX_PART_ID + 1)
            if self._next > MAX_PART_ID:
                raise InspectorError(f"part ids are used up ({MAX_PART_ID:,} handed out): {self.state_file}")
            self._persist(block_end)
            self._block_end = block_end
        part_id = self._next
        self._next += 1
        return part_id

    def _persist(self, value: int) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(f"{value}\n")
        os.replace(tmp, self.state_file)

"""What a Logix tag of each type can hold, and the values Inspector writes into them.

One place for the ranges: every value is checked against its tag's type
before a request is sent (pycomm3 would skip a value that does not fit and
write the other tags of the request: a partial write), and the counters and
the part id wrap within their tag's type.
"""

from __future__ import annotations

import math
from typing import Any

from inspector.errors import PlcError

# the integers each atomic type holds (REAL: the integers it holds exactly)
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "BOOL": (0, 1),
    "SINT": (-(2**7), 2**7 - 1),
    "INT": (-(2**15), 2**15 - 1),
    "DINT": (-(2**31), 2**31 - 1),
    "LINT": (-(2**63), 2**63 - 1),
    "USINT": (0, 2**8 - 1),
    "UINT": (0, 2**16 - 1),
    "UDINT": (0, 2**32 - 1),
    "ULINT": (0, 2**64 - 1),
    "REAL": (-(2**24), 2**24),
}
REAL_MAX = 3.4028234663852886e38


def value_problem(data_type: str, value: Any) -> str:
    """'' if ``value`` fits a tag of ``data_type``, else why not."""
    if data_type == "REAL":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if not math.isfinite(value) or abs(value) > REAL_MAX:
            return f"{value!r} does not fit a REAL"
        return ""
    limits = INTEGER_RANGES.get(data_type)
    if limits is None:
        return f"type {data_type} is not one Inspector writes"
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        return f"{value!r} is not an integer"
    low, high = limits
    if not low <= value <= high:
        return f"{value} is outside {data_type} ({low}..{high})"
    return ""


def check_values(types: dict[str, str], tag_values: tuple[tuple[str, Any], ...]) -> None:
    """Raise :class:`PlcError` naming every value that does not fit its tag, before anything is sent."""
    problems = []
    for name, value in tag_values:
        data_type = types.get(name)
        problem = "type unknown to the driver" if data_type is None else value_problem(data_type, value)
        if problem:
            problems.append(f"tag {name}: {problem}")
    if problems:
        raise PlcError("nothing written: " + "; ".join(problems))


def positive_max(data_type: str) -> int:
    """The largest count a tag of this type holds (counters and part ids run 1..this)."""
    return INTEGER_RANGES.get(data_type, INTEGER_RANGES["DINT"])[1]


def next_count(value: int, data_type: str = "DINT") -> int:
    """value + 1, wrapping to 1 past the type's largest value (0 stays 'never written')."""
    return 1 if value >= positive_max(data_type) or value < 0 else value + 1


def plc_part_id(part_id: int, data_type: str = "DINT") -> int:
    """The value the PLC's part-id tag shows for ``part_id``: the id itself while it fits, then wrapping, never 0.

    Part ids are 64-bit and unique for the life of the station (the record
    keeps the full id); a DINT holds 2,147,483,647 of them, so the PLC sees
    ``((part_id - 1) mod 2,147,483,647) + 1``: 1 .. 2,147,483,647, 1, 2, ...
    Two parts that show the same value are months apart; the result sequence
    tells the PLC's tracking one result from the next.
    """
    if part_id < 1:
        raise PlcError(f"part id {part_id} is not a part id (ids start at 1)")
    return (part_id - 1) % positive_max(data_type) + 1

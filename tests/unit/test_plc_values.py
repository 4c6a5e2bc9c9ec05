"""The values Inspector writes to PLC tags: the part id wrapped into its tag, counters, type ranges."""

from __future__ import annotations

import pytest

from inspector.errors import PlcError
from plc_io.tag_values import check_values, next_count, plc_part_id, value_problem

DINT_MAX = 2**31 - 1


@pytest.mark.parametrize(
    "part_id, shown",
    [(1, 1), (2, 2), (DINT_MAX - 1, DINT_MAX - 1), (DINT_MAX, DINT_MAX), (DINT_MAX + 1, 1), (DINT_MAX + 2, 2),
     (2 * DINT_MAX, DINT_MAX), (2 * DINT_MAX + 1, 1), (2**63 - 1, (2**63 - 2) % DINT_MAX + 1)],
)
def test_the_part_id_tag_shows_the_id_while_it_fits_then_wraps_to_1_never_0(part_id, shown):
    assert plc_part_id(part_id) == shown


def test_consecutive_part_ids_stay_consecutive_across_the_dint_wrap_except_the_step_back_to_1():
    shown = [plc_part_id(p) for p in range(DINT_MAX - 3, DINT_MAX + 4)]
    assert shown == [DINT_MAX - 3, DINT_MAX - 2, DINT_MAX - 1, DINT_MAX, 1, 2, 3]


def test_a_part_id_tag_of_another_type_wraps_within_that_type():
    assert [plc_part_id(p, "INT") for p in (32766, 32767, 32768, 32769)] == [32766, 32767, 1, 2]
    assert plc_part_id(300, "SINT") == (299 % 127) + 1


def test_zero_or_a_negative_part_id_is_refused():
    with pytest.raises(PlcError, match="not a part id"):
        plc_part_id(0)


@pytest.mark.parametrize("data_type, value, counted", [("DINT", DINT_MAX, 1), ("DINT", 5, 6), ("INT", 32767, 1), ("SINT", 127, 1), ("DINT", 0, 1)])
def test_counters_wrap_to_1_within_their_tag(data_type, value, counted):
    assert next_count(value, data_type) == counted


@pytest.mark.parametrize(
    "data_type, fits, does_not",
    [("SINT", [-128, 127], [128, -129]), ("INT", [-32768, 32767], [32768]), ("DINT", [-(2**31), DINT_MAX], [2**31]),
     ("BOOL", [0, 1, True], [2]), ("REAL", [1.5, 3], [float("nan"), float("inf"), "x"])],
)
def test_values_are_checked_against_the_tag_type(data_type, fits, does_not):
    assert [value_problem(data_type, v) for v in fits] == [""] * len(fits)
    assert all(value_problem(data_type, v) for v in does_not)


def test_a_request_with_one_value_that_does_not_fit_is_refused_whole_naming_it():
    types = {"Heartbeat": "DINT", "Fault": "SINT", "Alarms": "INT"}
    with pytest.raises(PlcError, match=r"^nothing written: tag Fault: 300 is outside SINT \(-128..127\)$"):
        check_values(types, (("Heartbeat", 1), ("Fault", 300), ("Alarms", 2)))
    with pytest.raises(PlcError, match="tag Other: type unknown to the driver"):
        check_values(types, (("Other", 1),))
    check_values(types, (("Heartbeat", DINT_MAX), ("Fault", -128), ("Alarms", 32767)))

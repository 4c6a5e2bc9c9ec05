"""Benchmark statistics and the line's accounting: every triggered part has exactly one decision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.bench.line import LineSettings, account, summarize_line
from inspector.bench.stats import HOPS, hop_latencies, percentiles, stage_latencies
from inspector.config import DEFAULT_CONFIG, load_config

ORDER = ("p50", "p90", "p99", "p99.9", "max")


def test_percentiles_are_ordered_and_counted():
    values = np.random.default_rng(3).lognormal(3, 0.5, 5000)
    p = percentiles(values)
    assert p["count"] == 5000
    assert [p[k] for k in ORDER] == sorted(p[k] for k in ORDER)
    assert p["max"] == pytest.approx(values.max(), abs=1e-3)


def test_percentiles_of_nothing_are_nan_not_zero():
    p = percentiles([])
    assert p["count"] == 0 and all(math.isnan(p[k]) for k in ORDER)


def _row(part_id: int, t: float, result: str = "PASS", camera: str = "top", plc: bool = True, verdict_ms: float | None = 20.0) -> dict:
    return {
        "camera": camera, "part_id": part_id, "result": result, "t_trigger": t,
        "t_verdict": None if verdict_ms is None else t + verdict_ms / 1000,
        "t_decided": t + 0.021, "t_plc_sent": t + 0.0215 if plc else None,
        "t_plc_written": t + 0.024 if plc else None, "plc_delivered": int(plc),
        "timings_ms": '{"inference": 15.0}' if verdict_ms is not None else None,
    }


def test_hops_use_only_parts_with_both_timestamps():
    rows = [_row(1, 100.0), _row(2, 100.1, "FAILSAFE_REJECT", verdict_ms=None)]
    hops = hop_latencies(rows)
    assert set(hops) == set(HOPS)
    assert len(hops["trigger_to_verdict"]) == 1 and len(hops["trigger_to_plc_write"]) == 2
    assert hops["trigger_to_plc_write"][0] == pytest.approx(24.0)
    assert hops["trigger_to_plc_request"][0] == pytest.approx(21.5) and hops["plc_reply"][0] == pytest.approx(2.5)
    assert stage_latencies(rows) == {"inference": [15.0]}


def test_a_verdict_that_came_after_a_deadline_decision_is_no_verdict_to_decision_hop():
    late = {**_row(1, 100.0, "FAILSAFE_REJECT", verdict_ms=400.0), "source": "deadline"}
    on_time = {**_row(2, 100.1), "source": "verdict"}
    hops = hop_latencies([late, on_time])
    assert hops["verdict_to_decision"] == [pytest.approx(1.0)]  # the on-time part's only, never negative
    assert len(hops["trigger_to_verdict"]) == 2  # the late verdict is still a trigger-to-verdict figure


def test_accounting_of_a_complete_run_has_no_silent_drop():
    rows = [_row(i, 100 + i / 10) for i in range(1, 11)]
    a = account(rows, triggered=10, actuator_decisions=10, restarts={})
    assert a["silent_drops"] == 0 and a["missing_part_ids"] == 0 and a["duplicate_decisions"] == 0 and a["complete"]


def test_accounting_finds_a_part_without_a_decision_and_names_it():
    rows = [_row(i, 100 + i / 10) for i in range(1, 11) if i != 4]
    a = account(rows, triggered=10, actuator_decisions=9, restarts={})
    assert a["missing_part_ids"] == 1 and a["missing_part_ids_first"] == ["top:4"]
    assert a["silent_drops"] == 2  # one triggered part fewer decided, and the hole in the id range


def test_accounting_counts_a_second_decision_for_one_part():
    rows = [_row(i, 100 + i / 10) for i in range(1, 6)]
    a = account(rows, triggered=5, actuator_decisions=6, restarts={})
    assert a["duplicate_decisions"] == 1


def test_a_line_with_failsafes_fails_its_budget_and_says_why():
    config = load_config(DEFAULT_CONFIG)
    rows = [_row(1, 100.0), _row(2, 100.1, "FAILSAFE_REJECT", verdict_ms=None), _row(3, 100.2)]
    counters = {"camera": {"triggered": 3}, "actuator": {"decisions": 3}, "detector": {}, "recorder": {}}
    result = summarize_line(rows, counters, {}, config, LineSettings(parts=3, rate_hz=10))
    assert result["verdict"] == "FAIL" and result["failsafe"] == 1
    assert any("fail-safe" in r for r in result["reasons"])
    assert result["accounting"]["silent_drops"] == 0
    p = result["hops_ms"]["trigger_to_plc_write"]
    assert [p[k] for k in ORDER] == sorted(p[k] for k in ORDER)


def test_a_clean_line_passes():
    config = load_config(DEFAULT_CONFIG)
    rows = [_row(i, 100 + i / 10) for i in range(1, 4)]
    counters = {"camera": {"triggered": 3}, "actuator": {"decisions": 3}, "detector": {}, "recorder": {}}
    result = summarize_line(rows, counters, {}, config, LineSettings(parts=3, rate_hz=10))
    assert result["verdict"] == "PASS" and result["reasons"] == []
    assert result["achieved_rate_hz"] == pytest.approx(10.0)

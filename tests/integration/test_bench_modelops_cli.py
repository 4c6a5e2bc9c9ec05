"""``inspector bench swap|shadow|outputs`` end to end with tiny counts: the real line, the real registry, a real broker.

They check the report's structure and its accounting (every part exactly one
decision, the shadow's compared + skipped frames against what production
judged, each plant output seen working), never how fast anything was: the
figures of such short runs on a shared machine mean nothing.
"""

from __future__ import annotations

import json

from inspector.bench.outputs import outputs_in_schema
from inspector.bench.swap import analyse_swaps
from inspector.cli import main
from inspector.config import DEFAULT_CONFIG, load_config

ORDER = ("p50", "p90", "p99", "p99.9", "max")


def ordered(p: dict) -> bool:
    return p["count"] > 0 and [p[k] for k in ORDER] == sorted(p[k] for k in ORDER)


def load_report(out) -> dict:
    assert (out / "bench.md").is_file() and (out / "latency_histogram.png").is_file()
    return json.loads((out / "bench.json").read_text())


def exit_code_matches(code: int, report: dict, prefix: str) -> bool:
    judged = [c["ok"] for c in report["checks"] if c["check"].startswith(prefix) and c["ok"] is not None]
    return code == (0 if all(judged) else 1)


def one_decision_each(accounting: dict, parts: int) -> bool:
    a = accounting
    return (a["triggered"] == a["decided"] == a["actuator_decisions"] == parts
            and a["silent_drops"] == 0 and a["missing_part_ids"] == 0 and a["duplicate_decisions"] == 0)


def test_swap_promotes_and_rolls_back_mid_run_with_every_part_decided_once(tmp_path):
    out = tmp_path / "report"
    code = main(["bench", "swap", "--parts", "80", "--rate", "5", "--swap-window", "5", "--budget-ms", "5000", "--out", str(out)])
    report = load_report(out)
    line, swap = report["swap"], report["swap"]["swap"]
    assert exit_code_matches(code, report, "swap")
    assert one_decision_each(line["accounting"], 80) and sum(line["results"].values()) == 80
    a, b = swap["models"]["A"], swap["models"]["B"]
    assert b.endswith("@bench-swap-B") and a != b
    assert swap["sequence"] == [a, b, a], "A, then B from one part on, then A again"
    assert [c["command"] for c in swap["commands"]] == ["promote", "rollback"]
    assert [(x["command"], x["from"], x["to"]) for x in swap["swaps"]] == [("promote", a, b), ("rollback", b, a)]
    for x in swap["swaps"]:
        assert x["first_part_marked"] is True, "the first part on a swapped-in model carries first_on_model = 1"
        assert x["command_to_first_part_s"] > 0 and x["parts_triggered_between"] >= 0
        assert x["before"]["latency_ms"]["count"] == x["after"]["latency_ms"]["count"] == 5
        assert ordered(x["before"]["latency_ms"]) and ordered(x["after"]["latency_ms"])
        assert x["before"]["part_ids"][1] + 1 == x["first_part_id"] == x["after"]["part_ids"][0]
    assert swap["steady"]["latency_ms"]["count"] == 80 - 4 * 5
    checks = {c["check"].split(" over ")[0]: c for c in report["checks"]}
    assert checks["swap: every part exactly one decision"]["ok"] is True
    assert checks["swap: models in part order (A, promoted B, rolled back to A)"]["ok"] is True
    text = (out / "bench.md").read_text()
    assert "## Model swap on the running line" in text and "| parts away from any swap |" in text and "; commit " in text


def test_shadow_on_and_off_alternate_and_the_shadow_accounts_for_every_frame(tmp_path):
    out = tmp_path / "report"
    code = main(["bench", "shadow", "--parts", "12", "--rate", "4", "--runs", "2", "--busy-rate", "20", "--settle-parts", "2",
                 "--budget-ms", "5000", "--out", str(out)])
    report = load_report(out)
    s = report["shadow"]
    assert exit_code_matches(code, report, "shadow")
    assert [(r["run"], r["arm"]) for r in s["runs"]] == [(1, "shadow off"), (2, "shadow on")]
    assert [r["arm"] for r in s["busy"]["runs"]] == ["shadow off", "shadow on"] and s["busy"]["rate_hz"] == 20
    for r in s["runs"] + s["busy"]["runs"]:
        assert one_decision_each(r["accounting"], 12) and r["one_decision_each"] is True
        assert r["shadow"]["candidate_decided_parts"] == 0, "the candidate never decides a part"
        assert len(r["shadow"]["decided_by"]) == 1
        if r["shadow"]["on"]:
            # every frame production judged went to the shadow or was skipped, and counted
            assert r["shadow"]["compared"] >= 1 and r["shadow"]["compared"] + r["shadow"]["skipped"] == r["shadow"]["inspected"] == 12
            assert r["shadow"]["accounted"] is True and r["shadow"]["candidate"].endswith("@bench-shadow-candidate")
    for comparison in (s["comparison"], s["busy"]["comparison"]):
        c = comparison["trigger_to_plc_write"]
        assert comparison["settle_parts"] == 2, "each run's first 2 parts are left out of the comparison"
        assert ordered(c["shadow off"]) and ordered(c["shadow on"]) and c["shadow off"]["count"] == c["shadow on"]["count"] == 10
        assert c["ratio_p50"] == round(c["shadow on"]["p50"] / c["shadow off"]["p50"], 4)
    checks = [c["check"] for c in report["checks"]]
    assert any(c.startswith("shadow: production trigger-to-PLC p50, shadow on / off") for c in checks)
    assert any(c.startswith("shadow: frames skipped at 20 parts/s") for c in checks)
    text = (out / "bench.md").read_text()
    assert "## Shadow on against off" in text and "### No spare capacity: 20 parts/s" in text


def test_outputs_on_and_off_alternate_with_each_output_seen_working(tmp_path):
    out = tmp_path / "report"
    code = main(["bench", "outputs", "--parts", "8", "--rate", "4", "--runs", "2", "--settle-parts", "2", "--budget-ms", "5000",
                 "--out", str(out)])
    report = load_report(out)
    o = report["outputs"]
    expected = outputs_in_schema(load_config(DEFAULT_CONFIG))
    assert "opcua" in expected and o["outputs"] == expected
    assert exit_code_matches(code, report, "outputs")
    assert [(r["run"], r["arm"]) for r in o["runs"]] == [(1, "outputs off"), (2, "outputs on")]
    off, on = o["runs"]
    assert off["outputs"] == {"on": False, "enabled": [], "seen_working": {}}
    assert on["outputs"]["enabled"] == expected and on["outputs"]["seen_working"] == {name: True for name in expected}
    for r in o["runs"]:
        assert one_decision_each(r["accounting"], 8)
    c = o["comparison"]["trigger_to_plc_write"]
    assert c["outputs off"]["count"] == c["outputs on"]["count"] == 6
    assert c["difference_p50_ms"] == round(c["outputs on"]["p50"] - c["outputs off"]["p50"], 3)
    assert any(ch["check"].startswith("outputs: each output seen working") and ch["ok"] is True for ch in report["checks"])
    assert "## Plant outputs on against off" in (out / "bench.md").read_text()


def test_swap_windows_are_taken_around_the_first_part_on_each_model():
    rows = [{"part_id": i, "camera": "top", "t_trigger": float(i), "t_plc_written": i + 0.01 * i, "result": "PASS",
             "model_version": "A" if i < 10 or i >= 20 else "B", "first_on_model": 1 if i in (10, 20) else 0}
            for i in range(1, 31)]
    rows[8]["result"] = "FAILSAFE_REJECT"  # part 9, just before the first on B
    commands = [{"command": "promote", "to": "B", "t": 8.5}, {"command": "rollback", "to": "A", "t": 18.5}]
    s = analyse_swaps(rows, "A", "B", commands, window=3)
    assert s["sequence"] == ["A", "B", "A"]
    promote, rollback = s["swaps"]
    assert promote["before"]["part_ids"] == [7, 9] and promote["after"]["part_ids"] == [10, 12]
    assert promote["before"]["failsafe"] == 1 and promote["after"]["failsafe"] == 0
    assert promote["command_to_first_part_s"] == 1.5 and promote["parts_triggered_between"] == 1
    assert rollback["before"]["part_ids"] == [17, 19] and rollback["after"]["part_ids"] == [20, 22]
    assert promote["after"]["latency_ms"]["p50"] == 110.0  # part 11: 0.11 s trigger to PLC write
    assert s["steady"]["latency_ms"]["count"] == 30 - 12


def test_a_swap_run_too_short_for_its_window_is_refused_by_name(capsys):
    assert main(["bench", "swap", "--parts", "30", "--swap-window", "20"]) == 2
    assert "--parts of at least 4 × --swap-window" in capsys.readouterr().err


def test_alternating_runs_need_two_runs_and_settle_parts_below_the_parts(capsys):
    assert main(["bench", "shadow", "--runs", "1"]) == 2
    assert "--runs must be at least 2 (one off, one on), got 1" in capsys.readouterr().err
    assert main(["bench", "outputs", "--parts", "40", "--settle-parts", "40"]) == 2
    assert "--settle-parts must be at least 0 and below --parts (40), got 40" in capsys.readouterr().err

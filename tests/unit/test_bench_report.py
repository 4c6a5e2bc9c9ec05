"""The benchmark report: JSON without raw samples or NaN, Markdown with the checks, a PNG histogram."""

from __future__ import annotations

import json

from inspector.bench.line import LineSettings, summarize_line
from inspector.bench.machine import machine_record
from inspector.bench.report import HISTOGRAM_NAME, JSON_NAME, LINE_VS_BARE_RUN_MAX, MARKDOWN_NAME, SCHEMA_VERSION, write_report
from inspector.config import DEFAULT_CONFIG, load_config


def _line_result(failsafe_part: bool = False) -> dict:
    rows = []
    for i in range(1, 41):
        failsafe = failsafe_part and i == 7
        t = 1000 + i / 10
        rows.append({
            "camera": "top", "part_id": i, "result": "FAILSAFE_REJECT" if failsafe else "PASS", "t_trigger": t,
            "t_verdict": None if failsafe else t + 0.02 + i / 10000, "t_decided": t + 0.021, "t_plc_sent": t + 0.022, "t_plc_written": t + 0.025,
            "plc_delivered": 1, "timings_ms": None if failsafe else '{"inference": 15.0}',
        })
    counters = {"camera": {"triggered": 40}, "actuator": {"decisions": 40}, "detector": {}, "recorder": {}}
    return summarize_line(rows, counters, {}, load_config(DEFAULT_CONFIG), LineSettings(parts=40, rate_hz=10))


def test_report_files_json_schema_and_markdown(tmp_path):
    report = {"machine": machine_record(), "config": "station.yaml", "model": "model.onnx", "sections": ["line"], "line": _line_result(True)}
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths.values()} == {JSON_NAME, MARKDOWN_NAME, HISTOGRAM_NAME}
    assert paths["histogram"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())  # strict JSON: NaN would have been refused on writing
    assert data["schema_version"] == SCHEMA_VERSION
    assert {"machine", "line", "checks", "files"} <= set(data)
    assert {"date", "command", "commit", "cpu", "cores", "onnxruntime_providers"} <= set(data["machine"])
    assert "samples_ms" not in data["line"]
    assert data["line"]["accounting"]["silent_drops"] == 0
    budget = next(c for c in data["checks"] if c["check"].startswith("line meets its budget"))
    assert budget["ok"] is False and data["line"]["failsafe"] == 1
    text = paths["markdown"].read_text()
    assert "0 silent drops" in text and "**FAIL**" in text and f"]({HISTOGRAM_NAME})" in text


def test_a_report_with_no_samples_has_no_histogram(tmp_path):
    report = {"machine": machine_record(), "sections": []}
    paths = write_report(report, tmp_path)
    assert "histogram" not in paths and not (tmp_path / HISTOGRAM_NAME).exists()
    assert json.loads(paths["json"].read_text())["checks"] == []


def test_checks_compare_the_line_with_the_bare_runtime_and_the_prototype():
    from inspector.bench.report import checks

    line = _line_result()
    request_p50 = line["hops_ms"]["trigger_to_plc_request"]["p50"]
    report = {
        "line": line,
        "engine": [
            {"provider": "CUDAExecutionProvider", "status": "unavailable", "reason": "no GPU"},
            {"provider": "CPUExecutionProvider", "status": "measured", "bare_session_run_ms": {"p50": request_p50 / 1.2}},
        ],
        "prototype": {"ratio_p50": 0.7},
    }
    by_name = {c["check"]: c for c in checks(report)}
    # measured against the provider that ran, not the missing one
    request = by_name["line latency p50, trigger to PLC write request / bare session.run back to back (CPUExecutionProvider) p50"]
    assert request["value"] == 1.2 and request["ok"] is True
    confirmed = next(c for c in by_name.values() if c["check"].startswith("line latency p50, trigger to PLC write confirmed"))
    assert "PLC reply p50 3.0 ms" in confirmed["check"]  # the PLC's own time, named beside the figure
    assert confirmed["value"] > LINE_VS_BARE_RUN_MAX and confirmed["ok"] is None  # information: the PLC's time is not the line's
    assert by_name["Inspector detector p50 / ultralytics predict p50"]["ok"] is True


def test_the_line_is_measured_against_the_faster_bare_run():
    from inspector.bench.report import checks

    line = _line_result()
    request_p50 = line["hops_ms"]["trigger_to_plc_request"]["p50"]
    engine = {
        "provider": "CPUExecutionProvider",
        "status": "measured",
        "bare_session_run_ms": {"p50": request_p50 / 1.1},
        "bare_session_run_rewritten_ms": {"p50": request_p50 / 1.3},  # the graph the detector runs, faster
    }
    (request,) = [c for c in checks({"line": line, "engine": [engine]}) if "write request" in c["check"]]
    assert "rewritten graph" in request["check"]
    assert request["value"] == 1.3 and request["ok"] is False  # no credit for the rewrites in the line's ratio


def test_with_bare_runs_at_the_line_rate_those_judge_and_back_to_back_is_information():
    from inspector.bench.report import checks

    line = _line_result()
    request_p50 = line["hops_ms"]["trigger_to_plc_request"]["p50"]
    line["bare_at_line_rate"] = {
        "rate_hz": 10, "provider": "CPUExecutionProvider",
        "bare_session_run_ms": {"p50": request_p50 / 1.1}, "bare_session_run_rewritten_ms": {"p50": request_p50 / 1.2},
    }
    engine = {"provider": "CPUExecutionProvider", "status": "measured", "bare_session_run_rewritten_ms": {"p50": request_p50 / 1.4}}
    requests = [c for c in checks({"line": line, "engine": [engine]}) if "write request" in c["check"]]
    judged, information = requests
    assert "at the line's 10 parts/s" in judged["check"] and "rewritten graph" in judged["check"]
    assert judged["value"] == 1.2 and judged["ok"] is True
    assert "back to back" in information["check"] and information["value"] == 1.4 and information["ok"] is None


def test_the_paced_reference_is_both_halves_and_the_report_shows_their_drift(tmp_path):
    from inspector.bench.engine import PacedBareRuns, bracketing_summary

    before = PacedBareRuns(10, "CPUExecutionProvider", {"bare_session_run_rewritten": [14.0, 14.0, 14.0]})
    after = PacedBareRuns(10, "CPUExecutionProvider", {"bare_session_run_rewritten": [16.0, 16.0, 16.0, 16.0]})
    paced = bracketing_summary(before, after)
    assert paced["bare_session_run_rewritten_ms"]["count"] == 7
    assert paced["bare_session_run_rewritten_ms"]["p50"] == 16.0
    assert paced["bare_session_run_rewritten_p50_before_after_ms"] == [14.0, 16.0]
    line = _line_result()
    line["bare_at_line_rate"] = paced
    report = {"machine": machine_record(), "config": "station.yaml", "model": "model.onnx", "sections": ["line"], "line": line}
    text = write_report(report, tmp_path)["markdown"].read_text()
    assert "taken half before, half after the line (p50 before / after: bare session.run, rewritten graph 14.00 / 16.00 ms)" in text

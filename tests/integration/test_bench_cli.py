"""``inspector bench`` end to end, with tiny counts: real sessions, the real line, real quantization.

These tests check what the report says and that it holds together (percentiles
in order, every triggered part accounted for, a quantized model that loads and
detects), never how fast anything was.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from inspector.bench.int8 import cpu_has_vnni
from inspector.cli import main
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package, sha256_of

ORDER = ("p50", "p90", "p99", "p99.9", "max")
TINY_ENGINE = [
    "--providers", "CPUExecutionProvider", "--frames", "4", "--warmup", "1", "--batch-sizes", "1,2", "--batch-runs", "2",
    "--threads", "1,0", "--idle-gap-s", "0.05", "--idle-trials", "1", "--keep-warm-s", "0.02",
]


def ordered(p: dict) -> bool:
    return p["count"] > 0 and [p[k] for k in ORDER] == sorted(p[k] for k in ORDER)


def load_report(out) -> dict:
    assert (out / "bench.md").is_file()
    return json.loads((out / "bench.json").read_text())


def test_engine_and_prototype_sections(tmp_path):
    out = tmp_path / "report"
    assert main(["bench", "engine", "compare", *TINY_ENGINE, "--out", str(out)]) == 0
    report = load_report(out)
    assert (out / report["files"]["histogram"]).is_file()
    (cpu,) = report["engine"]
    assert cpu["provider"] == "CPUExecutionProvider" and cpu["status"] == "measured"
    assert set(cpu["stages_ms"]) == {"preprocess", "inference", "postprocess", "total"}
    assert all(ordered(p) for p in cpu["stages_ms"].values()) and ordered(cpu["bare_session_run_ms"])
    # the detector's graph, rewritten for the CPU, is timed bare too: the report separates the two gains
    assert cpu["graph_rewrites"] == {"dfl_expectation": 1, "split_conv": 8, "concat_conv": 13} and ordered(cpu["bare_session_run_rewritten_ms"])
    assert cpu["throughput"]["method"] == "dynamic-batch copy of the model"
    assert [b["batch"] for b in cpu["throughput"]["batches"]] == [1, 2]
    # the counts asked for, ONNX Runtime's own default, and the station's setting (0 here) with spinning off
    assert [(t["intra_op_threads"], t["spinning"]) for t in cpu["threads"]] == [(1, True), (0, True), (None, True), (0, False)]
    assert all(ordered(t["inference_ms"]) for t in cpu["threads"])
    idle = cpu["idle_gap"]
    assert ordered(idle["without_keep_warm"]["first_after_idle_ms"]) and ordered(idle["with_keep_warm"]["first_after_idle_ms"])
    assert idle["without_keep_warm"]["keep_warm_inferences"] == 0
    proto = report["prototype"]
    assert ordered(proto["inspector_detector_ms"]) and ordered(proto["ultralytics_predict_ms"])
    assert proto["ratio_p50"] > 0
    assert any(c["check"].startswith("Inspector detector p50 / ultralytics") for c in report["checks"])
    text = (out / "bench.md").read_text()
    assert "## Engine on CPUExecutionProvider" in text and "ultralytics" in text
    assert "| bare session.run, rewritten graph |" in text and "dfl_expectation ×1" in text


def test_line_section_accounts_for_every_part(tmp_path):
    out = tmp_path / "report"
    code = main(["bench", "line", "--parts", "6", "--rate", "5", "--budget-ms", "5000", "--out", str(out)])
    report = load_report(out)
    line = report["line"]
    assert code == (0 if line["verdict"] == "PASS" else 1)
    a = line["accounting"]
    assert a["triggered"] == 6 and a["decided"] == 6 and a["actuator_decisions"] == 6
    assert a["silent_drops"] == 0 and a["missing_part_ids"] == 0
    assert sum(line["results"].values()) == 6
    assert ordered(line["hops_ms"]["trigger_to_plc_write"])
    # the bare runtime at the line's cadence, on the file as exported and on the graph the detector runs
    paced = line["bare_at_line_rate"]
    assert paced["rate_hz"] == 5 and paced["provider"] == "CPUExecutionProvider"
    assert paced["bare_session_run_ms"]["count"] == 6 and ordered(paced["bare_session_run_rewritten_ms"])
    assert paced["taken"] == "half before, half after the line"
    assert all(p50 > 0 for p50 in paced["bare_session_run_rewritten_p50_before_after_ms"])
    assert any("at the line's 5 parts/s" in c["check"] and c["ok"] is not None for c in report["checks"])
    assert {c["check"].split(" (")[0] for c in report["checks"]} >= {"zero silent drops over 6 parts", "fail-safe decisions"}


def test_int8_section_writes_a_package_the_line_can_load(tmp_path):
    out = tmp_path / "report"
    assert main(["bench", "int8", "--calibration-images", "8", "--eval-images", "6", "--frames", "4", "--out", str(out)]) == 0
    q = load_report(out)["int8"]
    package = load_model_package(q["package"])  # sha256 in its metadata matches
    assert package.metadata.onnx_sha256 == sha256_of(package.onnx_path)
    assert package.metadata.version.endswith("-int8") and package.metadata.training["quantization"]["format"] == "QDQ"
    # without VNNI, 8-bit weights saturate ONNX Runtime's x86 kernels: 7-bit weights are chosen
    assert ("reduce_range" in package.metadata.training["quantization"]["weights"]) == (not cpu_has_vnni())
    assert package.metadata.metrics["held_out"]["good_images"] + package.metadata.metrics["held_out"]["defective_images"] == 6
    base = load_config(DEFAULT_CONFIG).detector
    fp32 = DefectDetector(dataclasses.replace(base, providers=["CPUExecutionProvider"]))
    int8 = DefectDetector(dataclasses.replace(base, model=q["package"], providers=["CPUExecutionProvider"]))
    frame = np.zeros((480, 640), np.uint8)
    (a,) = fp32.runtime.run(fp32.model_inputs(frame)[0])
    (b,) = int8.runtime.run(int8.model_inputs(frame)[0])
    assert a.shape == b.shape
    assert isinstance(int8.inspect(frame).detections, list)
    for label in ("fp32", "int8"):
        assert ordered(q[label]["latency_ms"]) and q[label]["metrics"]["good_images"] + q[label]["metrics"]["defective_images"] == 6
    assert q["speedup_p50"] > 0


@pytest.mark.parametrize(
    ("flags", "vnni"),
    [("fpu sse avx2 fma", False), ("fpu avx2 avx512f avx512_vnni", True), ("fpu avx2 avx_vnni", True)],
)
def test_vnni_is_read_from_the_cpu_flags(tmp_path, flags, vnni):
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    assert cpu_has_vnni(tmp_path / "cpuinfo") is vnni
    assert cpu_has_vnni(tmp_path / "missing") is False


def test_unknown_section_is_refused_by_name(capsys):
    assert main(["bench", "engines"]) == 2
    assert "unknown bench section(s) ['engines']" in capsys.readouterr().err

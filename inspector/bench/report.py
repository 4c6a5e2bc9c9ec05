"""The benchmark report: ``bench.json``, ``bench.md`` and ``latency_histogram.png`` in one folder.

The JSON holds every figure (raw samples are left out; the histogram shows
them). The Markdown is for people: what ran where, a table per section, the
checks against the budget and against the issue's targets, and the histogram.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from inspector.bench.families import families_section
from inspector.bench.outputs import outputs_checks, outputs_section
from inspector.bench.shadow_cost import shadow_checks, shadow_section
from inspector.bench.swap import swap_checks, swap_section
from inspector.bench.tables import PCT_HEADER, pct_row

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"
HISTOGRAM_NAME = "latency_histogram.png"

# targets of the benchmark's own checks
LINE_VS_BARE_RUN_MAX = 1.25
DETECTOR_VS_ULTRALYTICS_MAX = 0.8
# bare session.run results (engine section, back to back; line section, at the line's rate): the model file as
# exported, and the graph as the detector runs it
BARE_RUNS = {"bare_session_run": "bare session.run", "bare_session_run_rewritten": "bare session.run, rewritten graph"}


def _strip_samples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_samples(v) for k, v in value.items() if k != "samples_ms"}
    if isinstance(value, list):
        return [_strip_samples(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass/fail of the line against its budget and of the figures the issue asks for, where measured."""
    out = []
    line = report.get("line")
    # the first provider measured is the one the line's detector prefers (same order)
    engine = next((p for p in report.get("engine", []) if p.get("status") == "measured"), None)
    if line:
        out.append({"check": "line meets its budget (no fail-safe, no silent drop, every PLC write in budget)", "value": line["verdict"], "limit": f"{line['budget_ms']:g} ms", "ok": line["verdict"] == "PASS"})
        drops = line["accounting"]["silent_drops"]
        out.append({"check": f"zero silent drops over {line['accounting']['triggered']} parts", "value": drops, "limit": 0, "ok": drops == 0})
        out.append({"check": "fail-safe decisions", "value": line["failsafe"], "limit": "reported", "ok": True})
    if line:
        out += _line_ratio_checks(line, engine)
    if report.get("swap"):
        out += swap_checks(report["swap"])
    if report.get("shadow"):
        out += shadow_checks(report["shadow"])
    if report.get("outputs"):
        out += outputs_checks(report["outputs"])
    prototype = report.get("prototype")
    if prototype:
        ratio = prototype["ratio_p50"]
        out.append({"check": "Inspector detector p50 / ultralytics predict p50", "value": ratio, "limit": DETECTOR_VS_ULTRALYTICS_MAX, "ok": ratio <= DETECTOR_VS_ULTRALYTICS_MAX})
    return out


def _fastest_bare(figures: dict[str, Any]) -> tuple[str, float]:
    """The faster bare run in ``figures``: with the graph rewritten for the CPU, the line gets no credit for them."""
    return min(
        ((label, figures[f"{key}_ms"]["p50"]) for key, label in BARE_RUNS.items() if f"{key}_ms" in figures),
        key=lambda run: run[1],
    )


def _line_ratio_checks(line: dict[str, Any], engine: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The line's p50 over the bare runtime's, to the PLC write request and to its confirmation.

    Judged against the bare runs at the line's own part rate when the line
    section measured them (the same cadence, so the ratio is what the line
    adds); the engine section's back-to-back runs are then given for
    information. Judged is the line to the write request: everything
    Inspector does. The ratio to the PLC's confirmation is information: it
    adds the controller's own service time (on the simulator, a pure-Python
    server, mostly its parsing: see the plc_reply hop), which no line could
    fit into a quarter of an inference; the budget check covers that figure.
    """
    hops = line["hops_ms"]
    denominators = []
    paced = line.get("bare_at_line_rate")
    if paced:
        label, p50 = _fastest_bare(paced)
        denominators.append((f"{label} at the line's {paced['rate_hz']:g} parts/s ({paced['provider']})", p50, True))
    if engine:
        label, p50 = _fastest_bare(engine)
        denominators.append((f"{label} back to back ({engine['provider']})", p50, not paced))
    out = []
    for denominator, bare, judged in denominators:
        for hop, what, judged_hop in (
            ("trigger_to_plc_request", "trigger to PLC write request", True),
            ("trigger_to_plc_write", f"trigger to PLC write confirmed (PLC reply p50 {round(hops['plc_reply']['p50'], 1)} ms)", False),
        ):
            ratio = hops[hop]["p50"] / bare
            out.append({
                "check": f"line latency p50, {what} / {denominator} p50",
                "value": round(ratio, 3), "limit": LINE_VS_BARE_RUN_MAX,
                "ok": ratio <= LINE_VS_BARE_RUN_MAX if judged and judged_hop else None,
            })
    return out


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the three files; returns their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {**report, "schema_version": SCHEMA_VERSION, "checks": checks(report)}
    paths = {"json": out_dir / JSON_NAME, "markdown": out_dir / MARKDOWN_NAME}
    histogram = write_histogram(report, out_dir / HISTOGRAM_NAME)
    if histogram is not None:
        paths["histogram"] = histogram
    report["files"] = {k: p.name for k, p in paths.items()}
    paths["json"].write_text(json.dumps(_strip_samples(report), indent=2, allow_nan=False) + "\n")
    paths["markdown"].write_text(markdown(report))
    return paths


def _histogram_series(report: dict[str, Any]) -> list[tuple[str, list[float]]]:
    series = []
    for p in report.get("engine", []):
        if p.get("status") == "measured":
            name = p["provider"].removesuffix("ExecutionProvider")
            series.append((f"detector total, {name}", p["samples_ms"]["total"]))
            series.append((f"bare session.run, {name}", p["samples_ms"]["bare_session_run"]))
    if report.get("prototype"):
        series.append(("ultralytics predict", report["prototype"]["samples_ms"]["ultralytics"]))
    if report.get("line"):
        series.append(("line: trigger to PLC write", report["line"]["samples_ms"]["trigger_to_plc_write"]))
    for m in report.get("families", {}).get("models", []):
        series.append((f"{m['family']}: {m['model']}", m["samples_ms"]))
    if report.get("swap"):
        series.append(("swap run: trigger to PLC write", report["swap"]["samples_ms"]["trigger_to_plc_write"]))
    for key in ("shadow", "outputs"):
        runs = report.get(key, {}).get("runs", [])
        for arm in dict.fromkeys(r["arm"] for r in runs):
            series.append((f"{arm}: trigger to PLC write", [ms for r in runs if r["arm"] == arm for ms in r["samples_ms"]["trigger_to_plc_write"]]))
    return [(label, values) for label, values in series if values]


def write_histogram(report: dict[str, Any], path: Path) -> Path | None:
    """Latency histograms (log-scaled counts), one panel per series; None when there is nothing to plot."""
    series = _histogram_series(report)
    if not series:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        from inspector.errors import InspectorError

        raise InspectorError("the latency histogram needs matplotlib: pip install matplotlib") from err
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.2 * len(series)), squeeze=False)
    for ax, (label, values) in zip(axes[:, 0], series):
        ax.hist(values, bins=60, color="#3465a4")
        ax.set_yscale("log")
        for q, style in ((50, "-"), (99, "--")):
            v = float(np.percentile(values, q))
            ax.axvline(v, color="#cc0000", linestyle=style, linewidth=1, label=f"p{q} {v:.1f} ms")
        budget = (report.get("line") or report.get("swap") or {}).get("budget_ms")
        if ("trigger to PLC" in label) and budget:
            ax.axvline(budget, color="black", linewidth=1.5, label=f"budget {budget:g} ms")
        ax.set_title(f"{label} ({len(values)} samples)", fontsize=9)
        ax.set_xlabel("ms", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- Markdown -----------------------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Inspector benchmark",
        "",
        f"- date: {m['date']}; commit {m['commit'] or 'unknown'}",
        f"- machine: {m['cpu']}, {m['cores']} cores, load average {m.get('load_average')}; {m['platform']}",
        f"- Python {m['python']}, ONNX Runtime {m['onnxruntime']} (providers in this build: {', '.join(m['onnxruntime_providers'])})",
        f"- command: `{m['command']}`",
        f"- model: `{report.get('model', '')}`",
        "",
    ]
    if report.get("checks"):
        lines += ["## Checks", "", "| check | value | limit | result |", "|---|---|---|---|"]
        lines += [f"| {c['check']} | {c['value']} | {c['limit']} | {_verdict(c['ok'])} |" for c in report["checks"]]
        lines.append("")
    if report.get("files", {}).get("histogram"):
        lines += [f"![latency histogram]({report['files']['histogram']})", ""]
    for p in report.get("engine", []):
        lines += _engine_section(p)
    if report.get("prototype"):
        lines += _prototype_section(report["prototype"])
    if report.get("line"):
        lines += _line_section(report["line"])
    if report.get("int8"):
        lines += _int8_section(report["int8"])
    if report.get("families"):
        lines += families_section(report["families"])
    if report.get("swap"):
        lines += swap_section(report["swap"]) + _line_section(report["swap"])
    if report.get("shadow"):
        lines += shadow_section(report["shadow"])
    if report.get("outputs"):
        lines += outputs_section(report["outputs"])
    return "\n".join(lines) + "\n"


def _engine_section(p: dict[str, Any]) -> list[str]:
    lines = [f"## Engine on {p['provider']}", ""]
    if p["status"] != "measured":
        return lines + [f"Not measured: {p['reason']}", ""]
    lines += ["Per-frame latency after warm-up, split by stage, beside a bare `session.run` on the same letterboxed frames:", "", *PCT_HEADER]
    for stage, pct in p["stages_ms"].items():
        lines.append(pct_row(f"detector: {stage}", pct))
    for key, label in BARE_RUNS.items():
        if f"{key}_ms" in p:
            lines.append(pct_row(label, p[f"{key}_ms"]))
    if p.get("graph_rewrites"):
        applied = ", ".join(f"{name} ×{count}" for name, count in p["graph_rewrites"].items())
        lines += ["", f"The detector runs the graph rewritten for the CPU provider ({applied}; `detector.cpu_graph_rewrites`)."]
    lines.append("")
    t = p["throughput"]
    lines += [f"Throughput ({t['method']}):", "", "| batch | images/s | batch latency p50 ms |", "|---|---|---|"]
    for b in t["batches"]:
        lines.append(f"| {b['batch']} | {b['images_per_s']} | {b.get('batch_latency_ms', {}).get('p50', '–')} |")
    lines += ["", "Session thread settings (intra-op threads; alternating blocks):", "", "| threads | inference p50 ms | p99 ms | images/s |", "|---|---|---|---|"]
    for r in p["threads"]:
        lines.append(f"| {r['label']} | {r['inference_ms']['p50']} | {r['inference_ms']['p99']} | {r['images_per_s']} |")
    idle = p["idle_gap"]
    lines += [
        "",
        f"First inspection after {idle['gap_s']:g} s without a part ({idle['trials']} trials), without and with keep-warm "
        f"(`detector.keep_warm_s: {idle['keep_warm_s']:g}`):",
        "",
        "| | steady p50 ms | first after idle p50 ms | max ms | penalty p50 ms | keep-warm inferences |",
        "|---|---|---|---|---|---|",
    ]
    for label in ("without_keep_warm", "with_keep_warm"):
        r = idle[label]
        lines.append(
            f"| {label.replace('_', ' ')} | {r['steady_ms']['p50']} | {r['first_after_idle_ms']['p50']} | "
            f"{r['first_after_idle_ms']['max']} | {r['penalty_p50_ms']} | {r['keep_warm_inferences']} |"
        )
    return lines + [""]


def _prototype_section(c: dict[str, Any]) -> list[str]:
    return [
        "## Against a prototype: ultralytics `YOLO(model).predict`",
        "",
        f"Same model, same {c['frames']} frames, same thresholds, alternating blocks; wall-clock per frame. "
        f"Detections found: {c['detections']}.",
        "",
        *PCT_HEADER,
        pct_row(f"Inspector detector ({c['inspector_providers'][0]})", c["inspector_detector_ms"]),
        pct_row("ultralytics predict", c["ultralytics_predict_ms"]),
        "",
        f"Ratio of the p50s (Inspector / ultralytics): **{c['ratio_p50']}**",
        "",
    ]


def _line_section(line: dict[str, Any]) -> list[str]:
    a = line["accounting"]
    lines = [
        "## Line: trigger to PLC write",
        "",
        f"{line['parts_per_camera']} parts per camera ({line['cameras']} camera(s)) at {line['rate_hz']:g} parts/s "
        f"(achieved {line['achieved_rate_hz']}), camera {line.get('camera', '?')}, budget {line['budget_ms']:g} ms, {line['detector_instances']} detector "
        f"process(es), keep-warm {line['keep_warm_s']:g} s, PLC simulator on loopback. **{line['verdict']}**"
        + (f": {'; '.join(line['reasons'])}" if line["reasons"] else ""),
        "",
        f"Results: {line['results']}; fail-safe decisions: {line['failsafe']}; PLC writes over budget: {line['over_budget']}; "
        f"not delivered to the PLC: {line['plc_undelivered']}.",
        "",
        f"Accounting: {a['triggered']} parts triggered (camera heartbeat counters), {a['decided']} decided "
        f"(recorder rows), {a['actuator_decisions']} actuator decisions, {a['missing_part_ids']} part ids missing from the range, "
        f"{a['duplicate_decisions']} duplicate decisions: **{a['silent_drops']} silent drops**"
        + (f" (process restarts: {a['process_restarts']})" if a["process_restarts"] else "")
        + ".",
        "",
        *PCT_HEADER,
    ]
    for name, pct in line["hops_ms"].items():
        lines.append(pct_row(name, pct))
    for name, pct in line["detector_stages_ms"].items():
        lines.append(pct_row(f"detector: {name}", pct))
    paced = line.get("bare_at_line_rate")
    if not paced:
        return lines + [""]
    drift = []
    for key, label in BARE_RUNS.items():
        if f"{key}_ms" in paced:
            lines.append(pct_row(f"{label}, at {paced['rate_hz']:g} parts/s", paced[f"{key}_ms"]))
            before, after = paced.get(f"{key}_p50_before_after_ms", (None, None))
            if before is not None:
                drift.append(f"{label} {before:.2f} / {after:.2f} ms")
    if drift:
        lines += ["", f"The bare runs at the line's rate were taken {paced['taken']} (p50 before / after: {'; '.join(drift)})."]
    return lines + [""]


def _int8_section(q: dict[str, Any]) -> list[str]:
    lines = [
        "## INT8 (static quantization, QDQ)",
        "",
        f"Calibrated on {q['calibration_images']} images ({q['calibration_method']}); evaluated on {q['eval_images']} images: "
        f"{q['evaluated_on']}. Quantized package: `{q['package']}`.",
        "",
        "| model | latency p50 ms | p99 ms | false-reject rate | escape rate | AUROC | size MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in ("fp32", "int8"):
        r = q[label]
        e = r["metrics"]
        lines.append(
            f"| {label} | {r['latency_ms']['p50']} | {r['latency_ms']['p99']} | {_fmt(e['false_reject_rate'])} | "
            f"{_fmt(e['escape_rate'])} | {_fmt(e['auroc'])} | {r['size_mb']} |"
        )
    lines += ["", f"Speed-up (fp32 p50 / int8 p50): **{q['speedup_p50']}**; change in escape rate: {_fmt(q['escape_rate_change'])}, "
              f"in false-reject rate: {_fmt(q['false_reject_rate_change'])}.", ""]
    return lines


def _verdict(ok: bool | None) -> str:
    return "info" if ok is None else "ok" if ok else "**FAIL**"


def _fmt(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}" if isinstance(x, float) else str(x)

"""``inspector bench``: does this station meet its budget on this target, with numbers to show it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

SECTIONS = ("engine", "compare", "line", "int8", "families", "swap", "shadow", "outputs")
LINE_SECTIONS = ("swap", "shadow", "outputs")  # on the running line, each judged by its own checks
DEFAULT_SECTIONS = ("engine", "compare", "line")
BARE_AT_RATE_RUNS = 150  # bare inferences per session at the line's cadence, half before and half after the line


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="latency, throughput and budget check of a station on this machine (JSON + Markdown + histogram)",
        description="Benchmark a station on this machine. Sections: engine (each execution provider present: stage "
        "latency, batches, threads, idle gap with and without keep-warm), compare (ultralytics' predict on the same "
        "frames), line (trigger to PLC write against the PLC simulator, with pass/fail against the budget and the "
        "accounting of every part), int8 (static quantization and its accuracy cost), families (each model family's "
        "latency beside the station's model on the same frames), swap (latency of the parts around a model promotion and "
        "rollback on the running line), shadow (production latency with a shadow run on against off), outputs (the plant "
        "outputs, MQTT, OPC UA and metrics, on against off). See docs/benchmarking.md.",
    )
    bench.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)} (default: {' '.join(DEFAULT_SECTIONS)})")
    bench.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="station config (default: the embedded defaults)")
    bench.add_argument(
        "--out", type=Path,
        help="report folder (default: bench/<date-time> beside the station's database; for the embedded defaults, under ~/.local/share/inspector)",
    )
    engine = bench.add_argument_group("engine and compare")
    engine.add_argument("--providers", type=_names, help="execution providers to measure, comma-separated (default: every one this ONNX Runtime offers)")
    engine.add_argument("--frames", type=int, default=300, help="measured frames per provider and for the comparison")
    engine.add_argument("--warmup", type=int, default=20, help="warm-up inspections before measuring")
    engine.add_argument("--batch-sizes", type=_ints, default=(1, 2, 4, 8), help="throughput batch sizes (comma-separated)")
    engine.add_argument("--batch-runs", type=int, default=20, help="timed runs per batch size")
    engine.add_argument(
        "--threads", type=_ints, default=(1, 2, 4),
        help="intra-op thread counts to try (0 = one per usable core); ONNX Runtime's default and the station's "
        "setting with spinning off are always added",
    )
    engine.add_argument("--idle-gap-s", type=float, default=2.0, help="idle gap before the first-after-idle inspection")
    engine.add_argument("--idle-trials", type=int, default=5, help="idle gaps measured, without and with keep-warm")
    engine.add_argument("--keep-warm-s", type=float, default=0.5, help="keep-warm period tried in the idle-gap test")
    line = bench.add_argument_group("line")
    line.add_argument("--parts", type=int, default=600, help="parts per camera (10000 for the soak)")
    line.add_argument("--rate", type=float, default=10.0, help="parts per second per camera")
    line.add_argument("--budget-ms", type=float, help="trigger-to-decision budget (default: the station's actuator.budget_ms)")
    line.add_argument(
        "--camera", choices=["replay", "synthetic", "station"], default="replay",
        help="replay: the station's synthetic parts pre-rendered, replayed like a camera (default); synthetic: rendered "
        "live (costs CPU per part); station: the configured cameras",
    )
    line.add_argument("--keep-line-data", action="store_true", help="keep the line's database, images and logs in the report folder")
    modelops = bench.add_argument_group("swap, shadow and outputs (they use --parts, --rate, --budget-ms and --camera too)")
    modelops.add_argument("--swap-window", type=int, default=20,
                          help="swap: parts before and after each swap in its latency tables; B is promoted after this many "
                          "parts and rolled back once it decided this many (default 20)")
    modelops.add_argument("--runs", type=int, default=4, help="shadow, outputs: alternating runs, off first (default 4: off, on, off, on)")
    modelops.add_argument("--settle-parts", type=int, default=50,
                          help="shadow, outputs: each run's first parts left out of the on/off comparison, while the 'on' "
                          "arm's extra services start (default 50; below --parts)")
    modelops.add_argument("--busy-rate", type=float, default=40.0,
                          help="shadow: a part rate with no spare capacity, run once off and once on (0: skip that case)")
    families = bench.add_argument_group("families")
    families.add_argument("--models", type=lambda t: [Path(p) for p in _names(t)], default=[],
                          help="model packages (ONNX files) to time beside the station's model(s), comma-separated")
    families.add_argument("--frames-folder", type=Path,
                          help="time on these images (a dataset split, say) instead of the station's synthetic parts")
    int8 = bench.add_argument_group("int8")
    int8.add_argument("--calibration-images", type=int, default=200, help="images to calibrate the quantization on")
    int8.add_argument("--calibration-folder", type=Path, help="calibration image folder (default: the model's synthetic training parts)")
    int8.add_argument("--eval-images", type=int, default=400, help="held-out synthetic parts both models are scored on")
    int8.add_argument("--eval-data", type=Path, help="score both models on this dataset instead (see --eval-split)")
    int8.add_argument("--eval-split", default="test", help="the --eval-data split both models are scored on (default: test)")
    int8.add_argument(
        "--reduce-range", choices=("auto", "on", "off"), default="auto",
        help="7-bit weights; auto: on for a CPU without VNNI, where 8-bit weights saturate (see docs/benchmarking.md)",
    )


def default_out_dir(config_file: Path, database: str) -> Path:
    """``bench/<date-time>`` beside the station's database (never inside the package for the embedded defaults)."""
    if config_file.resolve() == DEFAULT_CONFIG.resolve():
        base = Path.home() / ".local/share/inspector"
    else:
        base = Path(database).resolve().parent
    return base / "bench" / time.strftime("%Y%m%d-%H%M%S")


def run_bench(args: argparse.Namespace) -> int:
    from inspector.bench.engine import EngineSettings, bench_engine, bracketing_summary, paced_bare_runs, providers_present
    from inspector.bench.frames import station_frames
    from inspector.bench.line import LineSettings, run_line
    from inspector.bench.machine import machine_record
    from inspector.bench.report import write_report

    sections = list(dict.fromkeys(args.sections or DEFAULT_SECTIONS))
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise InspectorError(f"unknown bench section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if "swap" in sections and (args.swap_window < 1 or args.parts < 4 * args.swap_window):
        raise InspectorError(f"bench swap needs --swap-window of at least 1 and --parts of at least 4 × --swap-window "
                             f"(A, B and A again, and the parts each swap takes): got --parts {args.parts}, --swap-window {args.swap_window}")
    if {"shadow", "outputs"} & set(sections) and args.runs < 2:
        raise InspectorError(f"--runs must be at least 2 (one off, one on), got {args.runs}")
    if {"shadow", "outputs"} & set(sections) and not 0 <= args.settle_parts < args.parts:
        raise InspectorError(f"--settle-parts must be at least 0 and below --parts ({args.parts}), got {args.settle_parts}")
    if args.busy_rate < 0:
        raise InspectorError(f"--busy-rate must be 0 (none) or a part rate, got {args.busy_rate:g}")
    config = load_config(args.config)
    out = (args.out or default_out_dir(args.config, config.recorder.database)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": machine_record(), "config": str(args.config), "model": config.detector.model, "sections": sections}
    frames = station_frames(config, 32) if {"engine", "compare"} & set(sections) else []
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        tmp_dir = Path(tmp)
        if "engine" in sections:
            settings = EngineSettings(
                frames=args.frames, warmup=args.warmup, batch_sizes=args.batch_sizes, batch_runs=args.batch_runs,
                thread_counts=args.threads, idle_gap_s=args.idle_gap_s, idle_trials=args.idle_trials, keep_warm_s=args.keep_warm_s,
            )
            providers = args.providers or providers_present()
            print(f"engine: {', '.join(providers)}", file=sys.stderr)
            report["engine"] = bench_engine(config.detector, frames, settings, tmp_dir / "models", providers)
        if "compare" in sections:
            from inspector.bench.prototype import compare_with_ultralytics
            from inspector.engine.detector import DefectDetector

            engine = DefectDetector(dataclasses.replace(config.detector, warmup_runs=0, additional_models=[]))
            try:
                if engine.package.metadata.family == "yolo":
                    print("compare: Inspector's detector against ultralytics' predict", file=sys.stderr)
                    report["prototype"] = compare_with_ultralytics(engine, frames, args.frames, args.warmup)
                else:
                    print(f"compare: skipped, the station's model is a {engine.package.metadata.family} model "
                          "(ultralytics' predict runs YOLO models only)", file=sys.stderr)
            finally:
                engine.close()
        if "line" in sections:
            line_dir = out / "line-data" if args.keep_line_data else tmp_dir / "line"
            line_settings = LineSettings(parts=args.parts, rate_hz=args.rate, budget_ms=args.budget_ms, camera=args.camera)
            paced_frames = frames or station_frames(config, 32)
            paced_runs = max(2, min(args.parts, BARE_AT_RATE_RUNS))
            print(f"line: bare session.run at {args.rate:g}/s, the line's cadence (half before the line)", file=sys.stderr)
            before = paced_bare_runs(config.detector, paced_frames, args.rate, paced_runs // 2)
            print(f"line: {args.parts} parts at {args.rate:g}/s", file=sys.stderr)
            report["line"] = run_line(config, line_dir, line_settings)
            print(f"line: bare session.run at {args.rate:g}/s (half after the line)", file=sys.stderr)
            after = paced_bare_runs(config.detector, paced_frames, args.rate, paced_runs - paced_runs // 2)
            report["line"]["bare_at_line_rate"] = bracketing_summary(before, after)
        if "int8" in sections:
            from inspector.bench.int8 import Int8Settings, compare_int8, quantize_package
            from inspector.engine.model_package import load_model_package

            print("int8: quantizing and evaluating", file=sys.stderr)
            settings8 = Int8Settings(
                calibration_images=args.calibration_images, calibration_folder=args.calibration_folder, eval_images=args.eval_images,
                eval_data=args.eval_data, eval_split=args.eval_split,
                latency_frames=args.frames, reduce_range={"auto": None, "on": True, "off": False}[args.reduce_range],
            )
            fp32 = load_model_package(config.detector.model)
            int8 = quantize_package(fp32, out / "int8", settings8)
            report["int8"] = compare_int8(config.detector, fp32, int8, settings8)
        if "swap" in sections:
            from inspector.bench.swap import bench_swap

            print(f"swap: {args.parts} parts at {args.rate:g}/s, B promoted and rolled back mid-run", file=sys.stderr)
            report["swap"] = bench_swap(config, _line_data(args, out, tmp_dir, "swap"), line_settings_of(args), args.swap_window)
        if "shadow" in sections:
            from inspector.bench.shadow_cost import ShadowSettings, bench_shadow

            report["shadow"] = bench_shadow(
                config, _line_data(args, out, tmp_dir, "shadow"), line_settings_of(args),
                ShadowSettings(runs=args.runs, busy_rate_hz=args.busy_rate or None, settle_parts=args.settle_parts), _progress("shadow"),
            )
        if "outputs" in sections:
            from inspector.bench.outputs import bench_outputs

            report["outputs"] = bench_outputs(config, _line_data(args, out, tmp_dir, "outputs"), line_settings_of(args),
                                              args.runs, args.settle_parts, _progress("outputs"))
    if "families" in sections:
        from inspector.bench.families import FamilySettings, bench_families, folder_frames

        print("families: each model alone on the same frames", file=sys.stderr)
        family_frames = folder_frames(args.frames_folder, 64) if args.frames_folder else (frames or station_frames(config, 32))
        report["families"] = bench_families(
            config.detector, family_frames, FamilySettings(tuple(args.models), frames=args.frames, warmup=args.warmup)
        )
    report_paths = write_report(report, out)
    report["checks"] = json.loads(report_paths["json"].read_text())["checks"]
    paths = report_paths
    print(paths["markdown"].read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}", file=sys.stderr)
    line_result = report.get("line")
    if line_result and line_result["verdict"] != "PASS":
        return 1
    own_checks = [c for c in report.get("checks", []) if c["check"].startswith(LINE_SECTIONS)]
    return 1 if any(c["ok"] is False for c in own_checks) else 0


def line_settings_of(args: argparse.Namespace):
    from inspector.bench.line import LineSettings

    if args.parts < 1 or args.rate <= 0:
        raise InspectorError(f"--parts must be at least 1 and --rate above 0 (got {args.parts} and {args.rate:g})")
    return LineSettings(parts=args.parts, rate_hz=args.rate, budget_ms=args.budget_ms, camera=args.camera)


def _line_data(args: argparse.Namespace, out: Path, tmp_dir: Path, section: str) -> Path:
    return out / "line-data" / section if args.keep_line_data else tmp_dir / section


def _progress(section: str):
    return lambda text: print(f"{section}: {text}", file=sys.stderr)

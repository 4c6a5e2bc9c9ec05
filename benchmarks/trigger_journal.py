"""What the camera's trigger journal costs per part, and what the actuator's reconcile pass costs.

    low .venv/bin/python benchmarks/trigger_journal.py [--parts 20000] [--rounds 5] [--folder DIR]

Camera side: :meth:`inspector.records.trigger_journal.TriggerJournal.record` (one INSERT, committed to the WAL with
``synchronous=NORMAL``: no fsync), called back to back ``--parts`` times per round into a journal that already holds
the rows of the rounds before (as a running station's does). The camera calls it once per part, before it sends
the part-seen event. Actuator side: one pass of :class:`inspector.actuator.seen_recovery.TriggerReconciler` (every
2 s) over a journal of ``--parts`` × ``--rounds`` rows with 20 new triggers past their gate (a line at 10 parts a
second), the actuator's journal holding them all (the usual case: nothing to decide). Per-call times are measured
one by one with ``time.perf_counter``; the table gives the median, p99 and maximum of each round, and the fastest
round's median is the figure to compare on a busy machine. Results: ``benchmarks/results/trigger_journal.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.actuator.journal import DecisionJournal, TriggerMark  # noqa: E402
from inspector.actuator.reject_gate import RejectGate  # noqa: E402
from inspector.actuator.seen_recovery import TriggerReconciler  # noqa: E402
from inspector.actuator.tracker import PartTracker  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.messages import PartSeen  # noqa: E402
from inspector.records.trigger_journal import TriggerJournal, read_triggers  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "trigger_journal"


def quantiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {"p50": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99) - 1], "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


def camera_rounds(folder: Path, parts: int, rounds: int) -> list[dict[str, float]]:
    journal = TriggerJournal(folder, "top", keep_hours=72)
    out, part_id = [], 0
    try:
        for _ in range(rounds):
            samples = []
            for _ in range(parts):
                part_id += 1
                t = time.time()
                start = time.perf_counter()
                journal.record(part_id, part_id, t)
                samples.append((time.perf_counter() - start) * 1e6)
            out.append(quantiles(samples))
    finally:
        journal.close()
    return out


def reconcile_passes(folder: Path, passes: int) -> dict[str, float]:
    """Passes that each find 20 new triggers past their gate, all known to the actuator's journal."""
    gate = RejectGate(0.25, 1.0)
    camera = TriggerJournal(folder, "top", keep_hours=72)
    actuator = DecisionJournal(folder, keep_hours=72)
    tracker = PartTracker("station-1", 0.25, "reject")
    written = read_triggers(folder, "top", 0, 10**9)  # a running station's place: after the rows already there
    place = {"top": TriggerMark(written.journal_id, written.triggers[-1].entry if written.triggers else 0)}
    rule = TriggerReconciler("station-1", ["top"], str(folder), gate, "FAILSAFE_REJECT", place)
    known = lambda cam, ids: tracker.knows(cam, ids) | actuator.holds(cam, ids)  # noqa: E731
    first = 10_000_000
    samples = []
    try:
        for n in range(passes):
            old = time.time() - 60
            for k in range(20):
                part_id = first + n * 20 + k
                camera.record(part_id, part_id, old)
                actuator.seen(PartSeen("station-1", "top", part_id, part_id, old), old)
            start = time.perf_counter()
            done = rule.run(time.time(), known)
            samples.append((time.perf_counter() - start) * 1e6)
            assert done.decided == [], "every part known: nothing to decide"
    finally:
        camera.close()
        actuator.close()
    return quantiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=20_000, help="triggers per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=50, help="reconcile passes measured")
    parser.add_argument("--folder", type=Path, default=None, help="where the journals are made (default: a temporary folder)")
    parser.add_argument("--note", default="", help="a sentence on the machine's state, put into the report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        camera = camera_rounds(Path(tmp), args.parts, args.rounds)
        reconcile = reconcile_passes(Path(tmp), args.passes)
    machine = machine_record()
    best = min(camera, key=lambda r: r["p50"])
    rows = "\n".join(f"| {i + 1} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | {r['mean']:.1f} |"
                     for i, r in enumerate(camera))
    markdown = f"""# The camera's trigger journal: its cost per part

`benchmarks/trigger_journal.py` (see its docstring). {machine['date']}, commit {machine['commit']}, {machine['cpu']},
{machine['cores']} cores, Python {machine['python']}, load average {machine['load_average']}; journals on the
machine's disk (ext4).{(' ' + args.note) if args.note else ''}

    {machine['command']}

**Camera, per part** (one committed row before the part-seen event; {args.parts} parts per round, back to back):
fastest round's median **{best['p50']:.1f} µs**, its p99 {best['p99']:.1f} µs.

| round | median µs | p99 µs | max µs | mean µs |
|---:|---:|---:|---:|---:|
{rows}

**Actuator, per reconcile pass** (every 2 s; 20 new triggers, all known; {args.passes} passes): median
{reconcile['p50']:.0f} µs, p99 {reconcile['p99']:.0f} µs, max {reconcile['max']:.0f} µs.
"""
    write_result_files(RESULTS, {"machine": machine, "parts_per_round": args.parts, "camera_record_us": camera,
                                 "reconcile_pass_us": reconcile, "note": args.note}, markdown)


if __name__ == "__main__":
    main()

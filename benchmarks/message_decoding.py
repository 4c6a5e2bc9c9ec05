"""Decoding and encoding the line's messages: msgspec Structs against the typed dataclasses they replaced.

    nice -n 19 .venv/bin/python benchmarks/message_decoding.py [--rounds 7] [--target-ms 20]

"before" is the station's decoder up to commit b2a039d (``json`` and :func:`inspector.typed.from_dict` into
dataclasses, kept in ``tests/legacy_messages.py``), "after" is :mod:`inspector.messages` (msgspec Structs, bounded
values). Both decode the same bytes: the ones the new encoder writes. The two are measured interleaved, in
alternating order, round after round, so a machine busy with something else slows both alike; the table gives the
fastest round (the least disturbed, the figure to compare on a busy machine) and the median of the rounds. Results: benchmarks/results/message_decoding.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector import messages as after  # noqa: E402
from tests import legacy_messages as before  # noqa: E402


def _detections(module, n: int) -> list:
    return [module.Detection("scratch" if i % 2 else "dent", 0.5 + i / 1000, (10.0 + i, 20.5, 110.0 + i, 60.0),
                             4000.0 + i, i % 3 == 0, area_mm2=1.5 if i % 2 else None, model="default@3")
            for i in range(n)]


def messages(module) -> dict[str, object]:
    """A typical message of each case, built by ``module`` (before or after)."""
    header = module.FrameHeader("station-1", "top", 123456, 123456, 1765000000.125, 1765000000.131, 1024, 1280, 1,
                                "uint8", "Mono8", "synthetic:seed=1:defect_rate=0.1:index=123456",
                                "7f3a9c0d11223344", 5, 123456)
    cases: dict[str, object] = {
        "FrameHeader": header,
        "PartSeen": module.PartSeen("station-1", "top", 123456, 123456, 1765000000.125),
    }
    for n in (0, 5, 200):
        cases[f"Verdict, {n} detections"] = module.Verdict(
            "station-1", "top", 123456, 123456, "REJECT" if n else "PASS", 1765000000.125, 1765000000.161, "default@3",
            detections=_detections(module, n), timings_ms={"transport": 1.25, "preprocess": 2.5, "inference": 21.75,
                                                            "postprocess": 0.5},
            reason="scratch 0.91" if n else "", source="synthetic:seed=1:defect_rate=0.1:index=123456")
    return cases


def per_op_us(work, target_ms: float) -> float:
    """Microseconds per call of ``work``, over as many calls as fill about ``target_ms``."""
    n, elapsed = 1, 0.0
    while elapsed * 1000 < target_ms / 10:  # calibrate: enough calls for a tenth of the target
        n *= 2
        start = time.perf_counter()
        for _ in range(n):
            work()
        elapsed = time.perf_counter() - start
    n = max(1, int(n * target_ms / (elapsed * 1000)))
    start = time.perf_counter()
    for _ in range(n):
        work()
    return (time.perf_counter() - start) / n * 1e6


def measure(rounds: int, target_ms: float) -> list[tuple[str, str, list[float], list[float]]]:
    """(operation, case, before's µs per round, after's µs per round)."""
    old, new = messages(before), messages(after)
    rows = []
    for case in old:
        cls_old, cls_new = type(old[case]), type(new[case])
        payload = after.encode_header(new[case]) if cls_new is after.FrameHeader else after.encode(new[case])[1]
        assert before.decode_json(cls_old, payload) == old[case], "the old decoder reads the new bytes"
        assert after.decode_json(cls_new, payload) == new[case]
        old_encode = (lambda m=old[case]: before.encode_header(m)) if cls_old is before.FrameHeader else (lambda m=old[case]: before.encode(m))
        new_encode = (lambda m=new[case]: after.encode_header(m)) if cls_new is after.FrameHeader else (lambda m=new[case]: after.encode(m))
        pairs = {
            "decode": (lambda: before.decode_json(cls_old, payload), lambda: after.decode_json(cls_new, payload)),
            "encode": (old_encode, new_encode),
        }
        for operation, (work_old, work_new) in pairs.items():
            times_old, times_new = [], []
            for r in range(rounds):
                order = [(work_old, times_old), (work_new, times_new)]
                for work, times in (order if r % 2 == 0 else order[::-1]):
                    times.append(per_op_us(work, target_ms))
            rows.append((operation, f"{case} ({len(payload):,} B)", times_old, times_new))
    return rows


def table(rows) -> str:
    out = ["| operation | message (JSON size) | before: typed + json, µs fastest (median) | after: msgspec, µs fastest (median) "
           "| speed-up, fastest rounds (medians) |",
           "|---|---|---:|---:|---:|"]
    for operation, case, old, new in rows:
        mo, mn = statistics.median(old), statistics.median(new)
        out.append(f"| {operation} | {case} | {min(old):,.2f} ({mo:,.2f}) | {min(new):,.2f} ({mn:,.2f}) "
                   f"| {min(old) / min(new):,.1f}× ({mo / mn:,.1f}×) |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--target-ms", type=float, default=20.0, help="length of one measurement")
    args = parser.parse_args()
    import msgspec

    print(f"python {platform.python_version()}, msgspec {msgspec.__version__}, {platform.machine()} "
          f"{platform.processor() or ''}, {args.rounds} rounds of ~{args.target_ms:g} ms per measurement")
    print(table(measure(args.rounds, args.target_ms)))


if __name__ == "__main__":
    main()

"""Chaos suite: the whole line under every fault and attack we know of; for each, nothing lost, crashed or forged.

Each line case gets a fresh station (synthetic or folder camera, real services
under a real ``inspector run`` process, the cpppo PLC simulator, CURVE on, the
shipped watchdogs). The line runs ``--parts`` parts at ``--rate`` per second;
the fault is injected after the first few decisions; the line is then left to
settle and stopped with SIGTERM. The figures come from the line's own records,
logs and the PLC's tags (:mod:`inspector.bench.chaos.line_cases` says how each
column is counted): **lost** (parts seen without exactly one recorded
decision), **crashed** (restarts the fault did not cause), **past gate**
(decisions written after their part's reject gate), **forged** (a result the
PLC held that no record gave it, a damaged image that PASSed, an endpoint
another user took, a file another user can read).

The attack checks (:mod:`inspector.bench.chaos.attacks`) need no running
line: a substituted or older model package, a replayed HMI account, a removed
audit trail; each is held or not.

Runs for many minutes, so it is not part of ``make test``; each case has a
fast test there. Usage::

    .venv/bin/python benchmarks/chaos.py                      # every case, 40 parts each
    .venv/bin/python benchmarks/chaos.py --only kill-recorder plc-hung account-replayed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.bench.chaos.attacks import CHECKS  # noqa: E402
from inspector.bench.chaos.line_cases import CASES, FAULT_AFTER_DECISIONS, run_case  # noqa: E402
from inspector.bench.chaos.report import attack_held, attack_rows, line_case_held, line_rows  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", choices=sorted([*CASES, *CHECKS]), help="run only these cases")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "chaos")
    parser.add_argument("--fault-after", type=int, default=FAULT_AFTER_DECISIONS, metavar="N",
                        help=f"inject each fault after N parts are decided (default {FAULT_AFTER_DECISIONS})")
    parser.add_argument("--startup-grace", type=float, metavar="S",
                        help="supervisor.startup_grace_s of every station (default: the shipped 30 s; more on a loaded machine)")
    parser.add_argument("--keep", type=Path, help="put the stations in this folder and keep them (logs, records)")
    args = parser.parse_args()
    os.umask(0o022)  # as a login shell: the station's own modes must keep its files private
    chosen = args.only or [*CASES, *CHECKS]
    lines, attacks = [], []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inspector-chaos-", dir=args.keep) as tmp:
        if args.keep:
            os.rename(tmp, tmp + "-kept")  # not removed at the end
            tmp += "-kept"
            os.mkdir(tmp[:-len("-kept")])
        for name in chosen:
            print(f"-- {name}", flush=True)
            if name in CASES:
                try:
                    result = run_case(CASES[name], args.parts, args.rate, Path(tmp), args.startup_grace, args.fault_after)
                except Exception as err:  # a case the harness could not run is a finding, not a crash of the suite
                    traceback.print_exc()
                    result = {"fault": name, "what": CASES[name].what, "error": f"{type(err).__name__}: {err}", "lost": None}
                lines.append(result)
                print(json.dumps(result, default=str), flush=True)
                continue
            workdir = Path(tmp) / name
            workdir.mkdir()
            try:
                rows = CHECKS[name](workdir)
            except Exception as err:
                traceback.print_exc()
                rows = [{"case": name, "error": f"{type(err).__name__}: {err}", "held": False}]
            for row in rows:  # the temporary folder's name says nothing
                row["said"] = row.get("said", "").replace(str(workdir), "<station>")
            attacks += rows
            for row in rows:
                print(json.dumps(row), flush=True)
    record = machine_record()
    text = [
        "# Chaos suite: every fault and attack, nothing lost, crashed or forged",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}",
        f"- command: `{record['command']}`",
        f"- each line case: a fresh station, {args.parts} parts at {args.rate:g}/s, fault after {args.fault_after}"
        " decisions; CURVE on; cpppo PLC simulator; shipped watchdogs (5 s, the actuator's 3 s)",
        "",
    ]
    if lines:
        text += ["## The line under faults", "", *line_rows(lines), ""]
    if attacks:
        text += ["## Attacks checked without a line", "", *attack_rows(attacks), ""]
    write_result_files(args.out, {"machine": record, "results": lines, "attacks": attacks}, "\n".join(text))
    held = all(line_case_held(r) for r in lines) and all(attack_held(r) for r in attacks)
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())

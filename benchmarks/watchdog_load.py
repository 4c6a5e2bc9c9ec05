"""The actuator's watchdog on a loaded machine: heartbeat gaps, false restarts, and how soon a frozen one is restarted.

The whole line runs under the real supervisor with the shipped timeouts (heartbeat_timeout_s 5 s, the actuator's
3 s). For ``--seconds`` every core is kept busy by a spinning process, and every ``--lock-every`` seconds another
connection holds the actuator's journal locked for ``--lock-s`` (each write of the actuator waits: a stalled disk).
The supervisor's view of the actuator's heartbeats is sampled every 10 ms. Then the actuator is frozen (SIGSTOP)
and the time until the supervisor kills it is measured. Prints, and writes ``benchmarks/results/watchdog_load.md``:

    PYTHONPATH=. .venv/bin/python benchmarks/watchdog_load.py --seconds 60
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.actuator.journal import journal_held  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402
from inspector.line_runner import decided_count, part_rows, running_line  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402
from tests.helpers import wait_until  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "watchdog_load"


def sample_gaps(process, stop: threading.Event, gaps: list[float]) -> None:
    """Each time the supervisor took a new heartbeat of ``process``: how long since the one before."""
    last = process.last_beat
    while not stop.wait(0.01):
        beat = process.last_beat
        if beat != last and last:
            gaps.append(beat - last)
        last = beat


def hold_journal(config, every_s: float, hold_s: float, stop: threading.Event, held: list[float]) -> None:
    while not stop.wait(every_s):
        with journal_held(config.station.state_dir):
            started = time.monotonic()
            stop.wait(hold_s)
        held.append(time.monotonic() - started)


def run(seconds: float, lock_every: float, lock_s: float, workdir: Path) -> dict:
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir / "line", rate_hz=10)
    with running_line(config, workdir) as supervisor:
        actuator = supervisor.process("actuator")
        wait_until(lambda: decided_count(config) >= 5, 120, "the line deciding parts")
        before = decided_count(config)
        stop, gaps, held = threading.Event(), [], []
        threads = [threading.Thread(target=sample_gaps, args=(actuator, stop, gaps)),
                   threading.Thread(target=hold_journal, args=(config, lock_every, lock_s, stop, held))]
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        for t in threads:
            t.start()
        try:
            time.sleep(seconds)
        finally:
            stop.set()
            for t in threads:
                t.join()
            for busy in load:
                busy.kill()
                busy.wait()
        restarts = {p.name: p.restarts for p in supervisor.processes if p.restarts}
        decided = decided_count(config) - before
        restarts_before = actuator.restarts
        wait_until(lambda: actuator.restart_at is None and actuator.running and actuator.last_beat, 60, "the actuator up")
        os.kill(actuator.process.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        wait_until(lambda: actuator.restart_at is not None or actuator.restarts > restarts_before, 30,
                   "the frozen actuator killed")
        killed_after = time.monotonic() - frozen
    rows = part_rows(config)
    failsafe = sum(1 for r in rows if str(r["result"]).startswith("FAILSAFE"))
    gaps.sort()
    return {
        "seconds": seconds, "cores_busy": len(load), "journal_locks": len(held), "journal_lock_s": lock_s,
        "heartbeats": len(gaps), "gap_max_s": round(gaps[-1], 3) if gaps else None,
        "gap_p99_s": round(gaps[int(len(gaps) * 0.99) - 1], 3) if gaps else None,
        "restarts_under_load": restarts, "parts_decided": decided, "failsafe_total": failsafe,
        "frozen_killed_after_s": round(killed_after, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--lock-every", type=float, default=10, help="seconds between journal locks")
    parser.add_argument("--lock-s", type=float, default=3, help="how long each lock is held")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watchdog-") as tmp:
        figures = run(args.seconds, args.lock_every, args.lock_s, Path(tmp))
    machine = machine_record()
    markdown = "\n".join([
        "# The actuator's watchdog on a loaded machine",
        "",
        f"Every core busy ({figures['cores_busy']} spinning processes) for {figures['seconds']:.0f} s while the line "
        f"inspects at 10 parts/s; the actuator's journal locked {figures['journal_locks']} times for "
        f"{figures['journal_lock_s']:.0f} s each. Timeouts as shipped: heartbeat_timeout_s 5 s, the actuator's 3 s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| actuator heartbeats taken by the supervisor | {figures['heartbeats']} |",
        f"| longest gap between two (s) | {figures['gap_max_s']} |",
        f"| p99 gap (s) | {figures['gap_p99_s']} |",
        f"| restarts under load (any process) | {figures['restarts_under_load'] or 'none'} |",
        f"| parts decided under load | {figures['parts_decided']} |",
        f"| fail-safe decisions in the whole run | {figures['failsafe_total']} |",
        f"| frozen actuator (SIGSTOP) killed after (s) | {figures['frozen_killed_after_s']} |",
        "",
        f"Command: `{machine['command']}`; commit {machine['commit']}; {machine.get('cpu', '')} "
        f"({os.cpu_count()} cores), {machine['date']}.",
        "",
    ])
    write_result_files(RESULTS, {"figures": figures, "machine": machine}, markdown)


if __name__ == "__main__":
    main()

"""Log bytes for a flood of huge malformed messages to a supervised recorder, and whether it stays up.

The recorder runs under the real supervisor (its stdout/stderr in logs/recorder.log); a test peer holding the
actuator's key sends N decisions whose part id is megabytes of text. Prints, and writes
``benchmarks/results/log_flood.md``:

    PYTHONPATH=. .venv/bin/python benchmarks/log_flood.py --messages 100 --mib 3.9
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402
from inspector.line_keys import init_keys  # noqa: E402
from inspector.line_runner import running_line  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402
from tests.helpers import PeerSockets, wait_until  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "log_flood.md"


def flood(messages: int, mib: float, workdir: Path) -> dict:
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir / "line")
    init_keys(Path(config.security.keys_dir))
    buggy = PeerSockets(config)
    decisions = buggy.open("actuator", "decisions")
    log = workdir / "logs" / "recorder.log"
    try:
        with running_line(config, workdir, without=("camera:", "detector:", "actuator", "plc-simulator")) as supervisor:
            recorder = supervisor.process("recorder")
            wait_until(lambda: recorder.last_beat, 60, "the recorder up")
            pid, before = recorder.process.pid, log.stat().st_size
            value = "x" * (int(mib * 1024 * 1024) - 100)
            started = time.monotonic()
            for _ in range(messages):
                decisions.send_multipart([b"decision", json.dumps({"station": "s", "camera": "top", "part_id": value}).encode()])
            wait_until(lambda: recorder.counters.get("malformed_messages", 0) >= messages, 600, "every message refused")
            took = time.monotonic() - started
            grown = log.stat().st_size - before
            alive = recorder.running and recorder.process.pid == pid and recorder.restarts == 0
    finally:
        buggy.close()
    return {"grown": grown, "took": took, "alive": alive, "lines": log.read_text(errors="replace").count("malformed decision")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--mib", type=float, default=3.9, help="size of each message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="log-flood-") as tmp:
        result = flood(args.messages, args.mib, Path(tmp))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    text = (
        f"# Log bytes for a flood of malformed messages\n\n"
        f"`PYTHONPATH=. .venv/bin/python benchmarks/log_flood.py --messages {args.messages} --mib {args.mib}` "
        f"(commit {commit}, {platform.node()}, {platform.processor() or platform.machine()})\n\n"
        f"| messages | size each | recorder.log grew | lines naming them | time to refuse all | recorder up, no restart |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {args.messages} | {args.mib} MiB | {result['grown']:,} bytes | {result['lines']} | {result['took']:.1f} s | "
        f"{'yes' if result['alive'] else 'no'} |\n\n"
        "Before bounded logs (commit a6423de) the same run grew the log by 408,950,100 bytes: each refusal logged "
        "the whole value.\n"
    )
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

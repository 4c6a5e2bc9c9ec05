"""Chaos suite: the whole line under every fault we know of; for each, nothing may be lost.

Each fault gets a fresh station (synthetic camera, real services under a real
`inspector run` process, the cpppo PLC simulator, CURVE on). The line runs
``--parts`` parts at ``--rate`` per second; the fault is injected after the
first few decisions; the line is then left to settle and stopped with SIGTERM.
The figures come from the line's own records, read afterwards:

- **seen**: parts the actuator saw (its journal), plus part-seen events it
  counted as lost (sequence gaps);
- **decided**: parts with a final decision in the actuator's journal;
- **recorded**: parts with a decision in the recorder's database (each once);
- **PLC**: decisions the PLC confirmed, and the breaks in their PLC
  sequence numbers taken in the order the decisions were made (0: each
  confirmed decision is the next step of the PLC's sequence; a decision
  the PLC did not confirm leaves no step; the simulator restarts its tags at
  0 when it is killed, one break each time);
- **alarms**: alarm codes recorded;
- **lost** = seen − recorded: a part the line saw and has no record of.

Runs for minutes, so it is not part of ``make test``; each case has a fast
test there. Usage::

    .venv/bin/python benchmarks/chaos.py                      # every fault, 40 parts each
    .venv/bin/python benchmarks/chaos.py --only kill-recorder plc-hung
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from inspector.actuator.journal import FINAL_OUTCOMES, journaled_part_ids  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.channels import CHANNELS, LineSockets  # noqa: E402
from inspector.config import DEFAULT_CONFIG, load_config, write_config  # noqa: E402
from inspector.config.schema import Config  # noqa: E402
from inspector.errors import StoreError  # noqa: E402
from inspector.line_keys import init_keys  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402
from inspector.process_guard import STATE_FILE  # noqa: E402
from inspector.records.alarms import raised_codes  # noqa: E402
from inspector.records.parts import decided_rows  # noqa: E402
from inspector.synthetic import PartGenerator  # noqa: E402

FAULT_AFTER_DECISIONS = 8


@dataclass
class Station:
    config: Config
    config_file: Path
    workdir: Path
    runs: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> subprocess.Popen:
        out = (self.workdir / f"run-{len(self.runs)}.out").open("wb")
        run = subprocess.Popen(
            [sys.executable, "-m", "inspector", "run", "--config", str(self.config_file),
             "--log-dir", str(self.workdir / "logs")],
            stdout=out, stderr=subprocess.STDOUT,
        )
        self.runs.append(run)
        return run

    def child(self, name: str) -> int:
        data = json.loads((Path(self.config.station.state_dir) / STATE_FILE).read_text())
        return data["children"][name][0]

    def recorded(self) -> list[tuple]:
        """(part_id, result, plc_delivered, plc_seq, decision_seq) of every decided part; none while unreadable."""
        try:
            rows = decided_rows(self.config.recorder.database)
        except StoreError:
            return []
        return [(r["part_id"], r["result"], r["plc_delivered"], r["plc_seq"], r["decision_seq"]) for r in rows]

    def journal(self, outcomes: tuple[str, ...] | None = None) -> list[int]:
        """The part ids the actuator's journal holds (with one of ``outcomes``; None: any); none while unreadable."""
        try:
            return journaled_part_ids(self.config.station.state_dir, outcomes)
        except StoreError:
            return []

    def alarms(self) -> list[str]:
        try:
            return raised_codes(self.config.recorder.database)
        except StoreError:
            return []


def wait(condition: Callable[[], object], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


# -- the faults ----------------------------------------------------------------------------------


def kill(name: str) -> Callable[[Station], None]:
    def fault(station: Station) -> None:
        os.kill(station.child(name), signal.SIGKILL)
    return fault


def kill_supervisor(station: Station) -> None:
    station.runs[-1].kill()
    station.runs[-1].wait(10)
    time.sleep(1.0)  # its children stop on the parent-death signal
    station.start()


def plc_hung(station: Station) -> None:
    pid = station.child("plc-simulator")
    os.kill(pid, signal.SIGSTOP)
    time.sleep(3.0)
    os.kill(pid, signal.SIGCONT)


def bad_messages(station: Station) -> None:
    """Malformed, oversized and deeply nested messages to every socket a keyed service may send on."""
    payloads = [
        [b"{not json"],
        [b"verdict", b"[" * 100_000 + b"]" * 100_000],
        [b"decision", b'{"part_id": 1, "pad": "' + b"x" * (6 * 1024 * 1024) + b'"}'],
        [b"alarm", b"x" * (200 * 1024 * 1024)],
        [b"heartbeat", json.dumps({"service": "detector:0", "pid": 1, "seq": 1, "t": 0, "extra": 1}).encode()],
        [b"part_seen", b"{}", b"third part"],
    ]
    ends: list[LineSockets] = []
    try:
        for channel in CHANNELS.values():
            if channel.binder_role not in ("pull", "sub"):
                continue  # frames: the camera binds and sends; nothing to inject into
            identity = channel.connectors[0]
            end = LineSockets(station.config, identity)
            ends.append(end)
            sock = end.open(channel.name)
            time.sleep(0.3)
            for parts in payloads:
                sock.send_multipart(parts, copy=False)
            sock.close(linger=3000)
    finally:
        for end in ends:
            end.close()
            end.ctx.term()


def corrupt_database(station: Station) -> None:
    Path(station.config.recorder.database).write_bytes(b"this is not a database" * 1000)


def image_folder_unwritable(station: Station) -> None:
    images = Path(station.config.recorder.image_dir)
    for sub in images.iterdir() if images.exists() else []:
        if sub.is_dir():
            os.rename(sub, images.parent / f"{sub.name}-moved")
            sub.write_text("a file where the camera's image folder was")


FAULTS: dict[str, tuple[str, Callable[[Station], None]]] = {
    "kill-camera": ("kill -9 of the camera service", kill("camera:top")),
    "kill-detector": ("kill -9 of the detector", kill("detector:0")),
    "kill-actuator": ("kill -9 of the actuator", kill("actuator")),
    "kill-recorder": ("kill -9 of the recorder", kill("recorder")),
    "kill-supervisor": ("kill -9 of the supervisor, then a new `inspector run`", kill_supervisor),
    "plc-killed": ("kill -9 of the PLC (simulator)", kill("plc-simulator")),
    "plc-hung": ("the PLC stops answering for 3 s (SIGSTOP)", plc_hung),
    "bad-messages": ("malformed, 6 MiB, 200 MiB and 100,000-deep messages to every bound socket", bad_messages),
    "corrupt-database": ("the recorder's database overwritten with garbage", corrupt_database),
    "image-folder-unwritable": ("the recorder's image folder replaced by a file", image_folder_unwritable),
    "bad-images": ("a folder camera with blank, saturated, truncated, corrupt and 16x1024 images", None),
}


def bad_image_folder(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    generator = PartGenerator(seed=77)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}_good.png"), generator.part(i).image)
    good = generator.part(0).image
    cv2.imwrite(str(folder / "0003_blank.png"), np.zeros_like(good))
    saturated = good.copy()
    saturated[:, :500] = 255
    cv2.imwrite(str(folder / "0006_saturated.png"), saturated)
    cv2.imwrite(str(folder / "0009_whole.jpg"), good)
    data = (folder / "0009_whole.jpg").read_bytes()
    (folder / "0009_truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "0012_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    middle = good.shape[0] // 2
    cv2.imwrite(str(folder / "0015_ribbon.png"), np.tile(good[middle - 8 : middle + 8], (1, 2))[:, :1024])
    return folder


# -- one run -------------------------------------------------------------------------------------


def run_fault(name: str, parts: int, rate_hz: float, root: Path) -> dict:
    what, fault = FAULTS[name]
    workdir = root / name
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir / "line", parts=parts, rate_hz=rate_hz)
    sup = dataclasses.replace(config.supervisor, heartbeat_timeout_s=2.0, restart_backoff_initial_s=0.2, restart_backoff_max_s=1.0)
    config = dataclasses.replace(config, supervisor=sup)
    if name == "bad-images":
        folder = bad_image_folder(workdir / "images-in", parts)
        cam = dataclasses.replace(config.cameras[0], driver="folder", folder=str(folder), loop=False)
        config = dataclasses.replace(config, cameras=[cam])
    init_keys(Path(config.security.keys_dir))
    config_file = workdir / "station.yaml"
    write_config(config, config_file)
    station = Station(config, config_file, workdir)
    station.start()
    started = time.monotonic()
    try:
        if not wait(lambda: len(station.journal(("delivered",))) >= FAULT_AFTER_DECISIONS, 120):
            raise RuntimeError(f"{name}: the line did not start deciding parts")
        if fault is not None:
            fault(station)

        def settled() -> bool:
            final = len(station.journal(FINAL_OUTCOMES))
            return final >= parts and len(station.recorded()) >= final

        wait(settled, 120)
        time.sleep(2.0)
    finally:
        for run in station.runs:
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
                run.wait(60)
    seen = set(station.journal())
    decided = set(station.journal(FINAL_OUTCOMES))
    rows = station.recorded()
    recorded = [r[0] for r in rows]
    # the PLC sequence numbers in the order the decisions were made (the actuator's numbering, kept across restarts)
    delivered = [r[3] for r in sorted(rows, key=lambda r: r[4] or 0) if r[2] and r[3] is not None]
    breaks = sum(1 for a, b in zip(delivered, delivered[1:]) if b != a + 1)
    return {
        "fault": name,
        "what": what,
        "seen": len(seen),
        "decided": len(decided),
        "recorded": len(set(recorded)),
        "recorded_twice": len(recorded) - len(set(recorded)),
        "plc_confirmed": len(delivered),
        "plc_seq_breaks": breaks,
        "failsafe": sum(1 for r in rows if r[1].startswith("FAILSAFE")),
        "alarms": sorted(set(station.alarms())),
        "lost": len(seen - set(recorded)),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS), help="run only these faults")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "chaos")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="inspector-chaos-") as tmp:
        for name in args.only or FAULTS:
            print(f"-- {name}", flush=True)
            try:
                result = run_fault(name, args.parts, args.rate, Path(tmp))
            except Exception as err:  # a fault the harness could not run is a finding, not a crash of the suite
                result = {"fault": name, "what": FAULTS[name][0], "error": f"{type(err).__name__}: {err}", "lost": None}
            print(json.dumps(result), flush=True)
            results.append(result)
    record = machine_record()
    rows = [
        "# Chaos suite: every fault, nothing lost",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}",
        f"- command: `{record['command']}`",
        f"- each fault: a fresh station, {args.parts} parts at {args.rate:g}/s, fault after {FAULT_AFTER_DECISIONS} decisions;"
        " CURVE on; cpppo PLC simulator",
        "",
        "| fault | seen | decided | recorded | twice | PLC confirmed | PLC seq breaks | fail-safe | alarms (active) | **lost** |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['what']} | | | | | | | | harness error: {r['error']} | ? |")
            continue
        rows.append(
            f"| {r['what']} | {r['seen']} | {r['decided']} | {r['recorded']} | {r['recorded_twice']} | {r['plc_confirmed']} "
            f"| {r['plc_seq_breaks']} | {r['failsafe']} | {', '.join(r['alarms']) or '-'} | **{r['lost']}** |"
        )
    write_result_files(args.out, {"machine": record, "results": results}, "\n".join(rows) + "\n")
    return 0 if all(r.get("lost") == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""A fresh station for one chaos case, and what is watched while it runs: restarts, the PLC's tags, frame rings.

The station is the real thing: ``inspector run`` on a config written for the
case (synthetic or folder camera, the cpppo PLC simulator, CURVE on, the
shipped watchdogs, a short restart back-off). Everything read afterwards comes
from the station's own records, logs and the PLC's tags, never from the
harness's idea of what should have happened.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inspector.actuator.journal import journaled_part_ids
from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.config.schema import Config
from inspector.errors import InspectorError, StoreError
from inspector.frame_ring import FILE_HEADER, ring_path
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.process_guard import STATE_FILE, guarded
from inspector.records.alarms import alarm_rows, raised_codes
from inspector.records.parts import decided_rows
from plc_io.logix import RESULT_CODES, LogixConnection
from plc_io.tag_values import plc_part_id

REPO = Path(__file__).resolve().parents[3]
PYTHON = sys.executable

# "2026-12-07 17:24:03,629 ERROR inspector.supervisor: actuator exited with code -9; restarting in 0.2s" (its log)
RESTART = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \S+ inspector\.supervisor: (\S+) (exited with code -?\d+|"
                     r"silent for [\d.]+s|no heartbeat within \d+s of starting)[^\n]*; restarting in", re.MULTILINE)


def wait(condition: Callable[[], object], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def station_config(workdir: Path, parts: int, rate_hz: float, *, tcp: bool = False,
                   change: Callable[[Config], Config] | None = None, startup_grace_s: float | None = None) -> Config:
    """The config of a fresh station under ``workdir``: the shipped watchdogs, a short restart back-off
    (``startup_grace_s``: longer for a loaded machine, where loading a service takes longer)."""
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir / "line", parts=parts, rate_hz=rate_hz, tcp=tcp)
    sup = dataclasses.replace(config.supervisor, restart_backoff_initial_s=0.2, restart_backoff_max_s=1.0)
    if startup_grace_s is not None:
        sup = dataclasses.replace(sup, startup_grace_s=startup_grace_s)
    config = dataclasses.replace(config, supervisor=sup)
    return change(config) if change else config


@dataclass
class Station:
    config: Config
    config_file: Path
    workdir: Path
    runs: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def make(cls, config: Config, workdir: Path) -> Station:
        init_keys(Path(config.security.keys_dir))
        config_file = workdir / "station.yaml"
        write_config(config, config_file)
        return cls(config, config_file, workdir)

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def start(self) -> subprocess.Popen:
        """A new ``inspector run`` of the station, tied to this process (it stops if the suite dies)."""
        out = (self.workdir / f"run-{len(self.runs)}.out").open("wb")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
        run = subprocess.Popen(
            guarded([PYTHON, "-m", "inspector", "run", "--config", str(self.config_file), "--log-dir", str(self.log_dir)]),
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO),
        )
        self.runs.append(run)
        return run

    def stop(self) -> None:
        for run in self.runs:
            if run.poll() is None:
                run.send_signal(15)
                try:
                    run.wait(90)
                except subprocess.TimeoutExpired:
                    run.kill()
                    run.wait(10)

    def child(self, name: str) -> int:
        data = json.loads((Path(self.config.station.state_dir) / STATE_FILE).read_text())
        return data["children"][name][0]

    def rows(self) -> list:
        """Every decided part's row; none while the database is unreadable."""
        try:
            return decided_rows(self.config.recorder.database)
        except StoreError:
            return []

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

    def alarm_rows(self) -> list:
        try:
            return alarm_rows(self.config.recorder.database)
        except StoreError:
            return []

    def log_bytes(self) -> dict[str, int]:
        """Bytes in each service log (rotated copies included)."""
        sizes: dict[str, int] = {}
        for path in self.log_dir.glob("*.log*") if self.log_dir.exists() else []:
            name = path.name.split(".log")[0]
            sizes[name] = sizes.get(name, 0) + path.stat().st_size
        return sizes

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name.replace(':', '-')}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_counters(self, name: str) -> list[dict[str, int]]:
        """The counters each run of a service logged as it stopped ("... stopping; counters: {...}")."""
        found = []
        for line in self.log_text(name).splitlines():
            if " stopping; counters: {" in line:
                try:
                    found.append(ast.literal_eval(line.split(" stopping; counters: ", 1)[1]))
                except (ValueError, SyntaxError):
                    continue
        return found

    def restarts(self) -> list[tuple[float, str, str]]:
        """(epoch s, service, why) of every restart the supervisor(s) made, from their output (local times)."""
        found = []
        for out in sorted(self.workdir.glob("run-*.out")):
            for when, ms, name, why in RESTART.findall(out.read_text(errors="replace")):
                found.append((time.mktime(time.strptime(when, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000, name, why))
        return found


class PlcWatch(threading.Thread):
    """Reads the PLC's part id, result and sequence tags over its own session, every ``period_s``: every result the
    PLC held steady for two reads in a row (a result latched, as the PLC's logic would latch it)."""

    def __init__(self, config: Config, period_s: float = 0.2) -> None:
        super().__init__(name="plc-watch", daemon=True)
        self.config = config
        self.period_s = period_s
        self.held: set[tuple[int, int, int]] = set()  # (part tag, result code, sequence)
        self.failed_reads = 0
        self._halt = threading.Event()

    def run(self) -> None:
        tags = self.config.plc.tags
        conn = LogixConnection(self.config.plc)
        last = None
        try:
            while not self._halt.wait(self.period_s):
                try:
                    values = conn.read(tags.part_id.name, tags.result.name, tags.sequence.name)
                except (InspectorError, OSError):
                    self.failed_reads += 1
                    last = None
                    continue
                now = (values[tags.part_id.name], values[tags.result.name], values[tags.sequence.name])
                if now == last and now[2]:
                    self.held.add(now)
                last = now
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def misattributed(self, rows: list) -> list[str]:
        """Results the PLC held that no record says it was given: a sequence no decision was delivered with, or one
        held under another part id or result than the decision delivered with it."""
        by_seq: dict[int, list] = {}  # a PLC restarted from 0 numbers again: a sequence may be given twice
        for r in rows:
            if r["plc_delivered"] and r["plc_seq"] is not None:
                by_seq.setdefault(r["plc_seq"], []).append(r)
        data_type = self.config.plc.tags.part_id.type
        wrong = []
        for part_tag, code, seq in sorted(self.held, key=lambda h: h[2]):
            given = [(plc_part_id(r["part_id"], data_type), RESULT_CODES[r["result"]]) for r in by_seq.get(seq, [])]
            if not given:
                unknown = [r["part_id"] for r in rows if not r["plc_delivered"] and r["result"] in RESULT_CODES
                           and (plc_part_id(r["part_id"], data_type), RESULT_CODES[r["result"]]) == (part_tag, code)]
                said = (f": the PLC latched it, the record of part {unknown[0]} says not delivered" if unknown
                        else ": no decision delivered with it")
                wrong.append(f"sequence {seq} (part tag {part_tag}, result {code}){said}")
            elif (part_tag, code) not in given:
                shown = ", ".join(f"part {r['part_id']} {r['result']}" for r in by_seq[seq])
                wrong.append(f"sequence {seq}: the PLC held part tag {part_tag} result {code}, the record {shown}")
        return wrong


class RingWatch(threading.Thread):
    """The largest size each camera's frame ring in /dev/shm reached, and its largest slot (the frame limit)."""

    def __init__(self, config: Config, period_s: float = 0.2) -> None:
        super().__init__(name="ring-watch", daemon=True)
        self.paths = {cam.name: ring_path(config.station.state_dir, cam.name) for cam in config.cameras}
        self.period_s = period_s
        self.largest_file = 0
        self.largest_slot = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.period_s):
            for path in self.paths.values():
                try:
                    size = path.stat().st_size
                    with path.open("rb") as fh:
                        _, _, _, slot_bytes, _ = FILE_HEADER.unpack(fh.read(FILE_HEADER.size))
                except (OSError, struct.error):
                    continue
                self.largest_file = max(self.largest_file, size)
                self.largest_slot = max(self.largest_slot, slot_bytes)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

"""The HMI in a soak: a real process on the virtual display, watched every moment; restarted if nobody else does.

When the station's supervisor runs the HMI (a child named ``hmi...``), the
soak only watches it: each change of its pid is a restart by the station.
Otherwise the soak runs it (``inspector hmi --config ... --demo-users``) and,
when it dies, says so (with the last lines of its log: a Qt crash names
itself there) and starts it again after ``restart_after_s``, so the rest of
the run still has an HMI: such a restart is the soak's, not the station's,
and fails the "HMI up for the whole run" criterion.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.soak.procs import pid_alive, soak_env, spawn, stop_process


def log_tail(path: Path, lines: int = 6, limit: int = 16384) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - limit))
            return [line[:300] for line in fh.read().decode(errors="replace").splitlines()[-lines:]]
    except OSError:
        return []


class HmiWatch:
    def __init__(self, config_file: Path, log_dir: Path, display: str, supervised_pid: Callable[[], int | None],
                 restart_after_s: float) -> None:
        self.config_file, self.log_dir, self.display = config_file, log_dir, display
        self.supervised_pid = supervised_pid  # the supervisor's HMI child, if it runs one
        self.restart_after_s = restart_after_s
        self.supervised = False
        self.process: subprocess.Popen | None = None
        self.timeline: list[dict[str, Any]] = []  # started / exited / restarted, with the time and pid
        self.down: list[list[float | None]] = []  # [t down, t up] intervals
        self.expected_deaths = 0  # kills by the soak's fault, not yet seen
        self._last_pid: int | None = None
        self._restart_at: float | None = None

    @property
    def log(self) -> Path:
        return self.log_dir / "hmi.log"

    def pid(self) -> int | None:
        if self.supervised:
            pid = self.supervised_pid()
            return pid if pid_alive(pid) else None
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> None:
        """Watch the supervisor's HMI if it runs one; otherwise start one."""
        self.supervised = self.supervised_pid() is not None
        if not self.supervised:
            self._spawn("started by the soak")
        self._last_pid = self.pid()
        if self.supervised:
            self._note("watched", self._last_pid, "run by the station's supervisor")

    def _spawn(self, why: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn([sys.executable, "-m", "inspector", "hmi", "--config", str(self.config_file), "--demo-users"],
                             self.log, env=soak_env(DISPLAY=self.display))
        self._note("started", self.process.pid, why)

    def _note(self, event: str, pid: int | None, detail: str = "") -> None:
        self.timeline.append({"t": time.time(), "event": event, "pid": pid, "detail": detail})

    def check(self, allow_restart: bool = True) -> None:
        """Call often (main thread): notes deaths and restarts; restarts an HMI nobody else restarts."""
        now = time.time()
        pid = self.pid()
        if pid != self._last_pid:
            if self._last_pid is not None:  # the one we knew is gone
                expected = self.expected_deaths > 0
                self.expected_deaths = max(0, self.expected_deaths - 1)
                code = self.process.returncode if not self.supervised and self.process is not None else None
                self._note("exited", self._last_pid, ("killed by the soak's fault" if expected else "died by itself")
                           + (f", exit code {code}" if code is not None else "")
                           + ("" if expected else "; log: " + " | ".join(log_tail(self.log))))
                self.down.append([now, None])
            if pid is not None:
                if self.supervised:
                    self._note("restarted", pid, "by the station's supervisor")
                if self.down and self.down[-1][1] is None:
                    self.down[-1][1] = now
            self._last_pid = pid
        if pid is None and not self.supervised and allow_restart:
            if self._restart_at is None:
                self._restart_at = time.monotonic() + self.restart_after_s
            elif time.monotonic() >= self._restart_at:
                self._restart_at = None
                self._spawn(f"restarted by the soak: nothing else restarted it within {self.restart_after_s:g} s")
                self._last_pid = self.pid()
                if self.down and self.down[-1][1] is None:
                    self.down[-1][1] = time.time()

    def restarted_by_soak(self) -> int:
        return sum(1 for e in self.timeline if e["event"] == "started" and e["detail"].startswith("restarted by the soak"))

    def unexpected_deaths(self) -> list[dict[str, Any]]:
        return [e for e in self.timeline if e["event"] == "exited" and "died by itself" in e["detail"]]

    def stop(self) -> None:
        if not self.supervised:
            stop_process(self.process, 10)

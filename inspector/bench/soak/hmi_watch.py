"""The HMI in a soak: a real process on the virtual display, watched every moment; restarted if nobody else does.

When the station's supervisor runs the HMI (a child named ``hmi...``), the
soak only watches it: each change of its pid is a restart by the station.
Otherwise the soak runs it (``inspector hmi --config ... --demo-users``) and,
when it dies, says so (with the last lines of its log: a Qt crash names
itself there) and starts it again after ``restart_after_s``, so the rest of
the run still has an HMI: such a restart is the soak's, not the station's,
and fails the "HMI up for the whole run" criterion.

After each start the soak logs the operator in (the demo users' operator,
through the login screen's buttons, with ``xdotool``), so the screen the
line updates is the one on show, as at a plant; the soak's HMI is started
with a long idle logout so it stays there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.soak.procs import pid_alive, soak_env, spawn, stop_process

# the login screen at 1280x800 (hmi/screens/login.py): users in a row of three (admin, operator, quality), then the pad
OPERATOR, PIN = 1, "1111"
USER_ROW_Y, PAD_Y = 165, (305, 375, 445, 515)
PAD = {k: (i % 3, PAD_Y[i // 3]) for i, k in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "OK"])}
TOUCH_EVERY_S = 120.0  # well inside the HMI's idle logout (300 s)
LOGIN_TRIES_FOR_S = 60.0


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
        self._login_at: float | None = None  # when to try (again) to log the operator in
        self._login_until = 0.0
        self._log_mark = 0
        self._next_touch = 0.0  # an operator touches the screen now and then: the HMI's idle logout does not end the run

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
            self._login_soon()

    def _spawn(self, why: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn([sys.executable, "-m", "inspector", "hmi", "--config", str(self.config_file), "--demo-users",
                              "--idle-logout", "86400"], self.log, env=soak_env(DISPLAY=self.display))
        self._note("started", self.process.pid, why)
        self._login_soon()

    # -- logging the operator in ---------------------------------------------------------
    def _login_soon(self) -> None:
        self._login_at, self._login_until = time.monotonic() + 3.0, time.monotonic() + LOGIN_TRIES_FOR_S
        self._log_mark = self.log.stat().st_size if self.log.exists() else 0

    def _xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=5,
                              env=dict(os.environ, DISPLAY=self.display)).stdout

    def _logged_in(self) -> bool:
        try:
            with self.log.open("rb") as fh:
                fh.seek(self._log_mark)
                return b"logged in as operator" in fh.read()
        except OSError:
            return False

    def _try_login(self) -> None:
        now = time.monotonic()
        if self._logged_in():
            self._login_at = None
            self._note("logged in", self.pid(), "the operator, through the login screen")
            return
        if now > self._login_until or shutil.which("xdotool") is None:
            self._login_at = None
            self._note("login failed", self.pid(), "xdotool is not installed" if shutil.which("xdotool") is None
                       else f"the operator was not logged in within {LOGIN_TRIES_FOR_S:g} s: the login screen stays on show")
            return
        self._login_at = now + 3.0
        try:
            windows = self._xdotool("search", "--name", "^Inspector").split()
            if not windows:
                return  # not on the screen yet
            geometry = dict(line.split("=", 1) for line in self._xdotool("getwindowgeometry", "--shell", windows[0]).split())
            x0, y0, width = int(geometry["X"]), int(geometry["Y"]), int(geometry["WIDTH"])
            column = lambda c: x0 + int(width * (c + 0.5) / 3)  # noqa: E731
            clicks = [(column(OPERATOR), y0 + USER_ROW_Y)] + [(column(PAD[k][0]), y0 + PAD[k][1]) for k in [*PIN, "OK"]]
            for x, y in clicks:
                self._xdotool("mousemove", str(x), str(y), "click", "1")
        except (OSError, subprocess.SubprocessError, KeyError, ValueError):
            pass  # tried again in a moment

    def _touch(self) -> None:
        """A tap on the window's title (no button there), as an operator's hand now and then."""
        self._next_touch = time.monotonic() + TOUCH_EVERY_S
        try:
            windows = self._xdotool("search", "--name", "^Inspector").split()
            if windows:
                geometry = dict(line.split("=", 1) for line in self._xdotool("getwindowgeometry", "--shell", windows[0]).split())
                self._xdotool("mousemove", str(int(geometry["X"]) + 40), str(int(geometry["Y"]) + 20), "click", "1")
        except (OSError, subprocess.SubprocessError, KeyError, ValueError):
            pass  # tried again at the next touch

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
                    self._login_soon()
                if self.down and self.down[-1][1] is None:
                    self.down[-1][1] = now
            self._last_pid = pid
        if self._login_at is not None and pid is not None and time.monotonic() >= self._login_at:
            self._try_login()
        elif pid is not None and self._login_at is None and time.monotonic() >= self._next_touch:
            self._touch()
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

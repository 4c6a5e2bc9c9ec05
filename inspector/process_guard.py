"""The supervisor's children die with it, and a new supervisor ends what an old one left.

- **Die with the parent.** Every child is started through this module
  (``python -m inspector.process_guard PARENT_PID -- COMMAND...``), which asks
  Linux to send it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, kept
  across the ``exec`` of the real command), and exits at once if the parent
  is already gone. A supervisor killed with SIGKILL therefore takes its line
  with it: the services stop as on Ctrl-C (the actuator decides its pending
  parts fail-safe) and free their ports.
- **Leftovers.** The supervisor writes its own pid and its children's (with
  each process's start time, so a reused pid is never mistaken for one) to
  ``<station.state_dir>/supervisor.json``. A new supervisor refuses to start
  while the old one runs, and ends the old one's children that still run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STATE_FILE = "supervisor.json"


def guarded(command: list[str], parent_pid: int | None = None) -> list[str]:
    """``command`` started so that it dies with ``parent_pid`` (default: this process)."""
    return [sys.executable, "-m", "inspector.process_guard", str(parent_pid or os.getpid()), "--", *command]


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:  # pragma: no cover - the appliance runs Linux
        log.warning("children cannot be tied to their parent on %s; a killed supervisor leaves them running", sys.platform)
    if os.getppid() != parent_pid:
        sys.exit(f"process_guard: the parent {parent_pid} is gone; not starting")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


class StationProcesses:
    """The pids a station's supervisor started, on disk for the next supervisor."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.children: dict[str, tuple[int, int | None]] = {}

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable %s: %s", self.path, err)
            return {}

    def running_supervisor(self) -> int | None:
        """The pid of another live supervisor of this station, if one runs."""
        old = self._read().get("supervisor")
        if old and old[0] != os.getpid() and alive(old[0], old[1]):
            return old[0]
        return None

    def end_leftovers(self, timeout_s: float) -> list[str]:
        """Stop children of an earlier supervisor that still run (SIGTERM, then SIGKILL); return what was ended."""
        left = [
            (name, pid) for name, (pid, started) in self._read().get("children", {}).items() if alive(pid, started)
        ]
        for name, pid in left:
            log.warning("ending %s (pid %d), left running by an earlier supervisor of this station", name, pid)
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(start_time(pid) is not None for _, pid in left):
            time.sleep(0.05)
        for name, pid in left:
            if start_time(pid) is not None:
                log.error("%s (pid %d) did not stop on SIGTERM; killing it", name, pid)
                _signal(pid, signal.SIGKILL)
        return [f"{name} (pid {pid})" for name, pid in left]

    def started(self, name: str, pid: int) -> None:
        self.children[name] = (pid, start_time(pid))
        self._write()

    def _write(self) -> None:
        data = {"supervisor": [os.getpid(), start_time(os.getpid())], "children": self.children}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m inspector.process_guard PARENT_PID -- COMMAND [ARGS...]")
    die_with_parent(int(argv[0]))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])

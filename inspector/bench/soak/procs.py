"""The soak's own processes: started tied to the soak (they die with it), stopped with a deadline; their memory.

Every process the soak starts goes through :func:`spawn`: through
:mod:`inspector.process_guard` (the kernel ends it if the soak dies, even by
SIGKILL) and in its own process group (a terminal's Ctrl-C reaches the soak
alone, which then stops everything in order). Spawn only from the main
thread: the kernel's parent-death signal follows the thread that started the
child.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from inspector.errors import InspectorError
from inspector.process_guard import guarded

REPO = Path(__file__).resolve().parents[3]


def soak_env(**extra: str) -> dict[str, str]:
    """The environment of the soak's Python children: this checkout first on the path, no offscreen Qt."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("QT_QPA_PLATFORM", None)
    env.update(extra)
    return env


def spawn(command: list[str], log: Path | None, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``command`` tied to this process, in its own process group, output appended to ``log`` (or discarded)."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(guarded(command), stdout=out, stderr=subprocess.STDOUT, env=env or soak_env(),
                                cwd=REPO, process_group=0, **popen)
    finally:
        if log is not None:
            out.close()


def stop_process(process: subprocess.Popen | None, timeout_s: float = 10.0) -> int | None:
    """SIGCONT (it may be stopped), SIGTERM, and SIGKILL after ``timeout_s``; its exit code."""
    if process is None:
        return None
    if process.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                process.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                return None
    return process.returncode


def signal_pid(pid: int | None, sig: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def pid_alive(pid: int | None) -> bool:
    """The process exists and is not a zombie."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def rss_kb(pid: int | None) -> int | None:
    """Resident set size (VmRSS) in KiB; None when the process is gone."""
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def started_at(start_ticks: int | None) -> float | None:
    """Wall-clock start of a process from its start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    if start_ticks is None:
        return None
    try:
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return boot + start_ticks / os.sysconf("SC_CLK_TCK")


def wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


class VirtualDisplay:
    """Xvfb on the first free display number (Xvfb picks it: ``-displayfd``); ``screenshot()`` via ``xwd``."""

    def __init__(self, log: Path, size: str = "1280x800x24") -> None:
        self.log, self.size = log, size
        self.process: subprocess.Popen | None = None
        self.display = ""

    def start(self, timeout_s: float = 20.0) -> str:
        read_end, write_end = os.pipe()
        try:
            self.process = spawn(["Xvfb", "-displayfd", str(write_end), "-screen", "0", self.size, "-nolisten", "tcp"],
                                 self.log, pass_fds=(write_end,))
        finally:
            os.close(write_end)
        number = b""
        deadline = time.monotonic() + timeout_s
        os.set_blocking(read_end, False)
        try:
            while not number.endswith(b"\n") and time.monotonic() < deadline and self.process.poll() is None:
                try:
                    chunk = os.read(read_end, 16)
                except BlockingIOError:
                    time.sleep(0.05)
                    continue
                if not chunk:
                    break
                number += chunk
        finally:
            os.close(read_end)
        if not number.strip().isdigit():
            self.stop()
            raise InspectorError(f"Xvfb did not start (see {self.log}); is the 'xvfb' package installed?")
        self.display = f":{number.decode().strip()}"
        return self.display

    def screenshot(self, path: Path, timeout_s: float = 20.0) -> float:
        """The whole screen as a PNG; returns the share of pixels unlike the most common one (0 = a blank screen)."""
        grab = subprocess.run(["xwd", "-root", "-silent", "-display", self.display], capture_output=True, timeout=timeout_s)
        if grab.returncode != 0:
            raise InspectorError(f"xwd failed: {grab.stderr.decode(errors='replace').strip()}")
        image = xwd_to_bgr(grab.stdout)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
        flat = image.reshape(-1, 3)
        values, counts = np.unique(flat[:: max(1, len(flat) // 50_000)], axis=0, return_counts=True)
        return round(1.0 - counts.max() / counts.sum(), 4)

    def windows(self, timeout_s: float = 10.0) -> str:
        """The window tree (``xwininfo -root -tree``), '' if it cannot be read."""
        try:
            return subprocess.run(["xwininfo", "-root", "-tree", "-display", self.display], capture_output=True, text=True,
                                  timeout=timeout_s).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    def stop(self) -> None:
        stop_process(self.process, 5)
        self.process = None


def xwd_to_bgr(data: bytes) -> np.ndarray:
    """An X window dump (``xwd``: ZPixmap, 24/32 bits per pixel, TrueColor) as a BGR image."""
    if len(data) < 100:
        raise InspectorError("xwd gave no image")
    fields = struct.unpack(">25I", data[:100])
    header_size, version, pixmap_format = fields[0], fields[1], fields[2]
    width, height, byte_order, bpp, bytes_per_line, ncolors = fields[4], fields[5], fields[7], fields[11], fields[12], fields[19]
    if version != 7 or pixmap_format != 2 or bpp not in (24, 32):
        raise InspectorError(f"xwd image of an unsupported kind (version {version}, format {pixmap_format}, {bpp} bpp)")
    start = header_size + 12 * ncolors
    pixels = np.frombuffer(data, np.uint8, count=height * bytes_per_line, offset=start).reshape(height, bytes_per_line)
    step = bpp // 8
    rows = pixels[:, : width * step].reshape(height, width, step)
    if byte_order == 0:  # least significant byte first: B, G, R(, X)
        return np.ascontiguousarray(rows[:, :, :3])
    return np.ascontiguousarray(rows[:, :, step - 3 :][:, :, ::-1])

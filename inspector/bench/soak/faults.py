"""The soak's faults: each does its harm, undoes it (always, also on Ctrl-C), and says when its cause ended.

The cause's end is the moment alarms are timed from: the SIGCONT sent, the
broker listening again, the ballast deleted, the killed process back (for a
supervised service: a new pid that the supervisor reports up, i.e. whose
heartbeats arrive; the OPC UA server also answering on its port).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from inspector.bench.soak.procs import pid_alive, signal_pid, wait_gone
from inspector.bench.soak.station import SoakStation
from inspector.service_registry import SERVICE_NAMES

BALLAST = "soak-ballast.bin"
BALLAST_BELOW_S = 256 * 1024**2  # the ballast leaves free space this far below the threshold
REAL_FREE_FLOOR = 2 * 1024**3  # never leave less than this free on the real disk


@dataclass
class FaultRecord:
    name: str
    what: str
    t_start: float
    t_cause_end: float | None = None
    t_end: float | None = None  # the end of its slot (fault and recovery window)
    detail: list[str] = field(default_factory=list)
    skipped: str = ""
    error: str = ""
    expected_alarm: str | None = None


HEARTBEAT_SERVICES = SERVICE_NAMES  # the line's services: the supervisor raises service_down when one is killed


def expected_alarm(name: str, plc_external: bool, disk_levels: list[str]) -> str | None:
    """The condition a fault must raise (any source), or None when it need not raise one."""
    kind, _, target = name.partition(":")
    if kind == "kill":
        if target in HEARTBEAT_SERVICES or target == "opcua":
            return "service_down"
        return "plc_connection_lost" if target == "plc" else None  # an HMI the soak runs has no one to alarm
    return {"broker": "mqtt_broker_unreachable", "plc_hang": "plc_connection_lost", "opcua_restart": "service_down",
            "refused_tag": "plc_tag_refused" if plc_external else None,
            "disk": ("disk_space_critical" if "critical" in disk_levels else "disk_space_low") if disk_levels else None,
            }.get(kind)


def describe(name: str) -> str:
    kind, _, target = name.partition(":")
    return {
        "kill": f"kill -9 of the {target}",
        "stop": f"SIGSTOP of the {target}, then SIGCONT",
        "broker": "the MQTT broker stopped, then started again",
        "plc_hang": "the PLC hung (SIGSTOP of the simulator), then SIGCONT",
        "opcua_restart": "the OPC UA server restarted (SIGTERM; the supervisor starts it again)",
        "disk": "the disk filling: a ballast file below the warning, then the critical free-space threshold, then deleted",
        "wrap": "the part counter near its wrap: the camera restarted with its part-id state just below 2^31",
        "refused_tag": "a refused PLC tag: the PLC restarted without the alarm tag, later with it again",
    }[kind]


def target(station: SoakStation, name: str) -> tuple[str, int | None]:
    """(name as the supervisor knows it, pid now) of a fault's target."""
    if name == "hmi":
        return "hmi", station.hmi.pid() if station.hmi else None
    if name == "plc":
        if station.plc is not None:
            return "plc (the soak's)", station.plc.pid
        return "plc-simulator", station.children().get("plc-simulator")
    children = station.children()
    full = next((n for n in children if n == name or n.startswith(name + ":")), name)
    return full, children.get(full)


def wait_back(station: SoakStation, rec: FaultRecord, name: str, old_pid: int | None) -> float | None:
    """When ``name`` runs again under a new pid and the supervisor reports it up; None if not within the limit."""
    deadline = time.monotonic() + station.settings.back_within_s
    while station.idle(0.2):
        pid = station.pid_of(name)
        if pid and pid != old_pid and pid_alive(pid) and station.service_up(name) and (name != "opcua" or _opcua_answers(station)):
            rec.detail.append(f"{name} back as pid {pid}")
            return time.time()
        if time.monotonic() > deadline:
            rec.detail.append(f"{name} not back within {station.settings.back_within_s:g} s")
            return None
    return None


def _opcua_answers(station: SoakStation) -> bool:
    url = urlparse(station.config.opcua.endpoint)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 4840), timeout=0.5):
            return True
    except OSError:
        return False


# -- the faults ---------------------------------------------------------------------------------------------------


def kill(station: SoakStation, rec: FaultRecord, what: str) -> None:
    name, pid = target(station, what)
    if pid is None:
        rec.skipped = f"no {what} process runs"
        return
    if what == "hmi":
        station.hmi.expected_deaths += 1
    signal_pid(pid, signal.SIGKILL)
    rec.detail.append(f"killed {name} pid {pid}")
    wait_gone(pid, 5)
    if what == "plc" and station.plc is not None:  # nobody at the station restarts a plant's PLC: it comes back itself
        station.plc.kill()
        station.idle(0.5)
        station.plc.start()
        rec.t_cause_end = time.time()
        rec.detail.append(f"the PLC is back as pid {station.plc.pid}")
    elif what == "hmi" and station.hmi.supervised:  # back when its heartbeats come again (its window is up), as any service
        rec.t_cause_end = wait_back(station, rec, name, pid)
    elif what == "hmi":
        deadline = time.monotonic() + station.settings.back_within_s
        while station.idle(0.2) and time.monotonic() < deadline:
            new = station.hmi.pid()
            if new is not None and new != pid:
                rec.t_cause_end = time.time()
                rec.detail.append(f"HMI back as pid {new}" + ("" if station.hmi.supervised else " (started by the soak)"))
                return
    else:
        rec.t_cause_end = wait_back(station, rec, name, pid)


def stop(station: SoakStation, rec: FaultRecord, what: str, seconds: float | None = None) -> None:
    name, pid = target(station, what)
    if pid is None:
        rec.skipped = f"no {what} process runs"
        return
    seconds = station.settings.stop_for_s if seconds is None else seconds
    signal_pid(pid, signal.SIGSTOP)
    try:
        station.idle(seconds)
    finally:
        signal_pid(pid, signal.SIGCONT)
        rec.t_cause_end = time.time()
    rec.detail.append(f"{name} pid {pid} stopped for {seconds:g} s"
                      + ("" if pid_alive(pid) else "; it was replaced meanwhile"))


def broker(station: SoakStation, rec: FaultRecord) -> None:
    station.broker.stop()
    try:
        station.idle(station.settings.fault_for_s)
    finally:
        station.broker.start()
        station.broker.restarts += 1
        rec.t_cause_end = time.time()
    rec.detail.append(f"broker away for {station.settings.fault_for_s:g} s")


def opcua_restart(station: SoakStation, rec: FaultRecord) -> None:
    name, pid = target(station, "opcua")
    if pid is None:
        rec.skipped = "no OPC UA server runs"
        return
    signal_pid(pid, signal.SIGTERM)
    rec.t_cause_end = wait_back(station, rec, name, pid)


def disk(station: SoakStation, rec: FaultRecord) -> None:
    note = station.notes["disk"]
    if not note.get("levels"):
        rec.skipped = "the recorder's config has no free-space thresholds (yet): no ballast written"
        return
    folder = Path(station.config.recorder.database).parent
    ballast = station.workdir / BALLAST
    levels = note["levels"]
    phases = [("warning", (note["free_warning"] + note["free_critical"]) // 2 if "critical" in levels else
               note["free_warning"] - BALLAST_BELOW_S)] if "warning" in levels else []
    phases += [("critical", note["free_critical"] - BALLAST_BELOW_S)] if "critical" in levels else []
    try:
        for level, free_target in phases:
            rec.detail.append(f"{level}: {fill_ballast(ballast, folder, free_target)}")
            if not station.idle(station.settings.fault_for_s / len(phases)):
                break
    finally:
        ballast.unlink(missing_ok=True)
        rec.t_cause_end = time.time()


def fill_ballast(ballast: Path, folder: Path, free_target: int, floor: int = REAL_FREE_FLOOR) -> str:
    """Grow ``ballast`` (allocated, not written: instant) until ``folder``'s disk has ``free_target`` bytes free.

    Never below ``floor`` (nor 5 % of the disk): the disk is real and shared."""
    usage = shutil.disk_usage(folder)
    if free_target < max(floor, usage.total // 20):
        return f"not filled: it would leave {free_target / 1024**3:.1f} GiB free"
    with ballast.open("ab") as fh:
        size = os.fstat(fh.fileno()).st_size + max(0, usage.free - free_target)
        os.posix_fallocate(fh.fileno(), 0, size)
    return f"ballast {size / 1024**3:.2f} GiB, free {shutil.disk_usage(folder).free / 1024**3:.2f} GiB"


DINT_SPAN = 2**31 - 1  # the PLC's part-id tag shows ((id - 1) mod DINT_SPAN) + 1 (plc_io.tag_values.plc_part_id)


def next_wrap(current: int, before: int) -> int:
    """A part-id state ``before`` parts short of the PLC's next DINT wrap, always ahead of ``current``: a camera's
    counter only ever moves on (a state moved back would give parts the ids of recorded ones)."""
    wraps = (current - 1 + before) // DINT_SPAN + 1
    return wraps * DINT_SPAN + 1 - before


def wrap(station: SoakStation, rec: FaultRecord) -> None:
    name, pid = target(station, "camera")
    if pid is None:
        rec.skipped = "no camera runs"
        return
    state = Path(station.config.station.state_dir) / f"part-id-{name.split(':', 1)[1]}"
    try:
        old = state.read_text().strip()
    except OSError:
        old = ""
    if not old.isdigit():
        rec.skipped = f"the part-id state {state} is not a plain number ({old[:40]!r}): its format is unknown to the soak"
        return
    value = next_wrap(int(old), max(10, int(station.settings.rate_hz * station.settings.fault_for_s)))
    signal_pid(pid, signal.SIGKILL)
    wait_gone(pid, 5)
    tmp = state.with_suffix(".soak")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, state)
    rec.detail.append(f"camera pid {pid} killed; part-id state {old} -> {value} (the PLC's DINT part-id tag wraps in "
                      f"{DINT_SPAN - (value - 1) % DINT_SPAN} parts)")
    rec.t_cause_end = wait_back(station, rec, name, pid)


def refused_tag(station: SoakStation, rec: FaultRecord) -> None:
    if station.plc is None:
        rec.skipped = "needs the soak's own PLC (--plc external): the supervisor's simulator serves every configured tag"
        return
    tag = station.notes["alarm_tag"]
    station.plc.kill()
    station.plc.start(refuse=(tag,))
    rec.detail.append(f"PLC restarted without {tag}")
    try:
        station.idle(station.settings.fault_for_s)
    finally:
        station.plc.kill()
        station.plc.start()
        rec.t_cause_end = time.time()
    rec.detail.append(f"PLC serves {tag} again")


def run_fault(station: SoakStation, name: str) -> FaultRecord:
    rec = FaultRecord(name, describe(name), time.time(),
                      expected_alarm=expected_alarm(name, station.plc is not None, station.notes["disk"].get("levels", [])))
    kind, _, what = name.partition(":")
    actions: dict[str, Callable[[], None]] = {
        "kill": lambda: kill(station, rec, what),
        "stop": lambda: stop(station, rec, what),
        "broker": lambda: broker(station, rec),
        "plc_hang": lambda: stop(station, rec, "plc", station.settings.plc_hang_s),
        "opcua_restart": lambda: opcua_restart(station, rec),
        "disk": lambda: disk(station, rec),
        "wrap": lambda: wrap(station, rec),
        "refused_tag": lambda: refused_tag(station, rec),
    }
    try:
        actions[kind]()
    except Exception as err:  # noqa: BLE001 - a fault the soak could not do is a finding; the soak goes on
        rec.error = f"{type(err).__name__}: {err}"
    return rec

"""The faults put on a running line: kills, freezes, bad and hostile messages from key holders, a squatter.

Each fault takes the :class:`~inspector.bench.chaos.station.Station` and
returns notes on what it did (what a squatter got, bytes logged): figures the
case's row shows beside the line's own.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from inspector.bench.chaos.station import Station
from inspector.channels import CHANNELS, LineSockets, endpoint
from inspector.messages import MAX_INT64
from inspector.model_trust import lkg_folder
from inspector.socket_holders import tcp_sockets

Fault = Callable[[Station], dict]
SQUATTER_PYTHON = "/usr/bin/python3"  # the squatter needs no station code, only a socket
SQUAT_HOLD_S = 60.0  # at most: the squatter leaves once the service has failed to bind
FLOOD_MESSAGES = 100
FLOOD_BYTES = int(3.9 * 1024 * 1024)


def kill(name: str) -> Fault:
    def fault(station: Station) -> dict:
        os.kill(station.child(name), signal.SIGKILL)
        return {}
    return fault


def kill_supervisor(station: Station) -> dict:
    station.runs[-1].kill()
    station.runs[-1].wait(10)
    time.sleep(1.0)  # its children stop on the parent-death signal
    station.start()
    return {}


def frozen(name: str, seconds: float, times: int = 1) -> Fault:
    """SIGSTOP of a service (or the PLC simulator) for ``seconds``, then SIGCONT (if it was not killed meanwhile)."""
    def fault(station: Station) -> dict:
        for i in range(times):
            pid = station.child(name)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(seconds)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass  # its watchdog killed it (SIGKILL works on a stopped process)
            if i + 1 < times:
                time.sleep(seconds)
        return {}
    return fault


# -- messages from key holders -------------------------------------------------------------------

def _send(station: Station, sends: list[tuple[str, str, list[bytes]]]) -> None:
    """(identity, channel, multipart) each sent with that identity's station keys, as a same-user process could."""
    ends: dict[str, LineSockets] = {}
    sockets = {}
    try:
        for identity, channel, parts in sends:
            if (identity, channel) not in sockets:
                ends.setdefault(identity, LineSockets(station.config, identity))
                sockets[identity, channel] = ends[identity].open(channel)
                time.sleep(0.3)  # the CURVE handshake
            sockets[identity, channel].send_multipart(parts, copy=False)
        for sock in sockets.values():
            sock.close(linger=60_000)  # every message out before the sockets go (a flood takes a while)
    finally:
        for end in ends.values():
            end.close()
            end.ctx.term()


def bad_messages(station: Station) -> dict:
    """Malformed, oversized and deeply nested messages to every socket a keyed service may send on."""
    payloads = [
        [b"{not json"],
        [b"verdict", b"[" * 100_000 + b"]" * 100_000],
        [b"decision", b'{"part_id": 1, "pad": "' + b"x" * (6 * 1024 * 1024) + b'"}'],
        [b"alarm", b"x" * (200 * 1024 * 1024)],
        [b"heartbeat", json.dumps({"service": "detector:0", "pid": 1, "seq": 1, "t": 0, "extra": 1}).encode()],
        [b"part_seen", b"{}", b"third part"],
    ]
    sends = [(channel.connectors[0], channel.name, parts) for channel in CHANNELS.values()
             if channel.binder_role in ("pull", "sub") for parts in payloads]
    _send(station, sends)
    return {}


def big_integers(station: Station) -> dict:
    """Part ids of 2**63 and 2**40 and a sequence jumped by 2**63, each in the message that carries it, signed with
    the keys of the service that sends it: part-seen (camera), verdict (detector), decision (actuator), alarm."""
    config = station.config
    where = {"station": config.station.name, "camera": config.cameras[0].name}
    now = time.time()
    seq = 1_000_000

    def js(**values) -> bytes:
        return json.dumps({**where, **values}).encode()

    def verdict(part_id: int) -> bytes:
        return js(part_id=part_id, seq=seq, result="PASS", t_trigger=now, t_verdict=now, model_version="x@1")

    sends = [
        ("camera", "part_seen", [b"part_seen", js(part_id=2**63, seq=seq, t_trigger=now)]),
        ("camera", "part_seen", [b"part_seen", js(part_id=2**40, seq=seq + 1, t_trigger=now)]),
        ("camera", "part_seen", [b"part_seen", js(part_id=2**40 + 1, seq=seq + 1 + 2**63, t_trigger=now)]),
        ("camera", "part_seen", [b"part_seen", js(part_id=2**40 + 2, seq=MAX_INT64, t_trigger=now)]),
        ("detector", "verdicts", [b"verdict", verdict(2**63)]),
        ("actuator", "decisions", [b"decision", js(part_id=2**63, seq=seq, result="PASS", source="verdict",
                                                   t_trigger=now, t_decided=now, plc_delivered=True)]),
        ("camera", "alarms", [b"alarm", json.dumps({"station": config.station.name, "source": "camera:top",
                                                    "code": "part_seen_lost", "severity": "warning", "text": "x",
                                                    "t": now, "part_id": 2**63}).encode()]),
    ]
    _send(station, sends)
    return {}


def verdict_flood(station: Station) -> dict:
    """100 malformed verdicts of 3.9 MiB (the part id megabytes of text) with the detector's keys; the bytes the
    services log for them."""
    before = station.log_bytes()
    config = station.config
    value = "x" * (FLOOD_BYTES - 200)
    body = json.dumps({"station": config.station.name, "camera": config.cameras[0].name, "part_id": value, "seq": 1,
                       "result": "PASS", "t_trigger": time.time(), "t_verdict": time.time(), "model_version": "x@1"})
    _send(station, [("detector", "verdicts", [b"verdict", body.encode()])] * FLOOD_MESSAGES)
    time.sleep(10.0)  # refusals logged, repeats summarised
    after = station.log_bytes()
    grown = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return {"logged_bytes": sum(max(0, g) for g in grown.values()), "actuator_logged_bytes": grown.get("actuator", 0)}


# -- another local user -------------------------------------------------------------------------------

SQUATTER = """
import json, os, select, socket, sys, time
where, hold = sys.argv[1], float(sys.argv[2])
out = {"uid": os.getuid(), "taken": False, "error": ""}
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        if where.startswith("tcp://"):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(where.rsplit(":", 1)[1])))
        else:
            path = where[len("ipc://"):]
            s = socket.socket(socket.AF_UNIX)
            if os.path.exists(path):
                os.unlink(path)
            s.bind(path)
        s.listen()
        out["taken"] = True
        out["t_taken"] = time.time()
        break
    except OSError as err:
        out["error"] = f"{type(err).__name__}: {err}"
        time.sleep(0.002)
print("taken" if out["taken"] else "refused", flush=True)
if out["taken"]:
    select.select([sys.stdin], [], [], hold)  # until told to leave
    out["held_s"] = round(time.time() - out["t_taken"], 1)
print(json.dumps(out), flush=True)
"""


def squat(channel: str, service: str) -> Fault:
    """Another local user (``nobody``) takes ``channel``'s endpoint the moment its ``service`` is killed, and holds it
    until the service has failed to bind it (at most SQUAT_HOLD_S); what the squatter got, and what the supervisor
    said of the bind failure."""
    def fault(station: Station) -> dict:
        where = endpoint(station.config, channel)
        squatter = subprocess.Popen(
            [SQUATTER_PYTHON, "-c", SQUATTER, where, str(SQUAT_HOLD_S)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, user="nobody", group="nogroup", extra_groups=[], cwd="/",
            env={"PATH": "/usr/bin:/bin"},
        )
        said_before = len(_bind_failures(station, service))
        os.kill(station.child(service), signal.SIGKILL)
        try:
            first = squatter.stdout.readline().strip()
            failures: list[str] = []
            if first == "taken":
                deadline = time.monotonic() + SQUAT_HOLD_S
                while time.monotonic() < deadline and len(failures := _bind_failures(station, service)) <= said_before:
                    time.sleep(0.2)
                squatter.stdin.write("leave\n")
                squatter.stdin.flush()
            squatter.wait(timeout=SQUAT_HOLD_S + 30)
        except subprocess.TimeoutExpired:
            squatter.kill()
            squatter.wait()
        # read through the text streams: readline() above may hold the rest of the output in its buffer, which
        # communicate() (reading the pipes' file descriptors) would never see
        out, err = squatter.stdout.read(), squatter.stderr.read()
        said = out.strip().splitlines()
        if not said or not said[-1].startswith("{"):
            raise RuntimeError(f"the squatter said nothing (exit {squatter.returncode}, first line {first!r}): "
                               f"{err.strip()[-300:]}")
        result = json.loads(said[-1])
        notes = {"endpoint": where, "squatter_uid": result["uid"], "squatter_pid": squatter.pid,
                 "squatter_took_it": result["taken"], "squatter_error": result["error"],
                 "squatter_held_s": result.get("held_s", 0)}
        if first == "taken":
            failure = failures[-1] if len(failures) > said_before else ""
            notes["bind_failure_seen"] = bool(failure)
            notes["bind_failure_names_holder"] = f"pid {squatter.pid}" in failure or "nobody" in failure
            notes["bind_failure"] = failure[:300]
        if where.startswith("ipc://"):
            notes["ipc_folder_mode"] = oct(Path(where[len("ipc://"):]).parent.stat().st_mode & 0o7777)
        return notes
    return fault


def _bind_failures(station: Station, service: str) -> list[str]:
    """The supervisor's lines saying ``service`` stopped because its endpoint is in use (the alarm's text)."""
    found = []
    for out in sorted(station.workdir.glob("run-*.out")):
        found += [line.split(": ", 1)[-1] for line in out.read_text(errors="replace").splitlines()
                  if "inspector.supervisor: " in line and f" {service} " in line and "in use" in line]
    return found


def open_station_root(station: Station) -> None:
    """The folders above the station's data made traversable (0755), as a user's home or /var/lib is: what keeps
    another user out must be the station's own modes (its state and socket folders), not the harness's folders."""
    for folder in (station.workdir.parent, station.workdir, station.workdir / "line"):
        if folder.exists():
            os.chmod(folder, 0o755)


# -- what another local user could read -----------------------------------------------------------------------

def _open_to_others(paths) -> list[str]:
    found = []
    for path in paths:
        try:
            info = path.lstat()
        except OSError:
            continue
        mode = info.st_mode & 0o7777
        if mode & 0o007 and not stat.S_ISSOCK(info.st_mode):  # a socket file's own mode: its folder's decides
            found.append(f"{path} {oct(mode)}")
    return found


def _tcp_listeners(ports: range) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket on ``ports``."""
    return [(str(t.address), t.port) for t in tcp_sockets() if t.listening and t.port in ports]


def files_and_endpoints(station: Station) -> dict:
    """While the line runs (started with umask 022): stored images, service logs, last-known-good model copies,
    the station config and databases readable by no other user; the metrics endpoints listening on loopback."""
    config = station.config
    images = Path(config.recorder.image_dir)
    wait_for = time.monotonic() + 90
    while time.monotonic() < wait_for and not any(images.rglob("*.png")):
        time.sleep(0.5)
    time.sleep(2.0)  # the services' metrics endpoints up
    lkg = lkg_folder(config)
    state = Path(config.station.state_dir)
    private = [images, *images.rglob("*"), station.log_dir, *station.log_dir.glob("*.log*"), lkg, *lkg.rglob("*"),
               station.config_file, Path(config.recorder.database), Path(config.security.keys_dir),
               *Path(config.security.keys_dir).glob("*"), state / "audit.key"]
    rest = [state, *(p for p in state.rglob("*") if p not in private)]
    base = config.plant.metrics.base_port
    listeners = _tcp_listeners(range(base, base + 40))
    return {
        "files_checked": len(private),
        "images_stored": sum(1 for _ in images.rglob("*.png")),
        "open_to_others": _open_to_others(private),  # images, logs, model copies, config, database, keys
        "also_readable_in_state_dir": _open_to_others(rest),
        "metrics_listeners": sorted({f"{a}:{p}" for a, p in listeners}),
        "metrics_not_loopback": sorted({f"{a}:{p}" for a, p in listeners if not ipaddress.ip_address(a).is_loopback}),
    }

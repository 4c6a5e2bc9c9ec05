"""The chaos cases on a running line: one fresh station each, a fault after the first decisions, then the count.

For each case the row says, from the station's records, logs and the PLC's
tags (see :func:`run_case`):

- **lost**: parts the actuator saw (its journal) without exactly one
  recorded decision (none, or more than one);
- **crashed**: restarts the supervisor made of a service the fault did not
  aim at (a service killed, frozen past its watchdog or squatted is
  restarted by design; any other restart is a crash);
- **past gate**: decisions written to the PLC after their part's deadline and
  gate window (they must be recorded fail-safe, never written);
- **forged**: results the PLC held that no record says it was given (a
  sequence no delivered decision carries, or one under another part's id or
  result), plus what the case itself counts as accepted (a damaged image
  that PASSed, an endpoint another user took on the default socket files).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspector.actuator.journal import FINAL_OUTCOMES
from inspector.actuator.reject_gate import NOT_WRITTEN
from inspector.bench.chaos import faults as f
from inspector.bench.chaos.images import bad_image_folder, damaged_image_folder
from inspector.bench.chaos.model_swap import signed_model_station, substituted_at_restart, substitution_outcome
from inspector.bench.chaos.station import PlcWatch, RingWatch, Station, station_config, wait
from inspector.config.schema import Config
from inspector.frame_ring import frame_limit_bytes
from inspector.netutil import free_tcp_ports

FAULT_AFTER_DECISIONS = 8
GATE_TOLERANCE_S = 0.1
QUIET_S = 10.0  # the line has settled when no new part was seen this long (and every part is recorded)  # the gate is judged just before the write is handed over


@dataclass(frozen=True)
class LineCase:
    name: str
    what: str
    fault: f.Fault | None
    targets: tuple[str, ...] = ()  # services the fault itself restarts ("*": all)
    tcp: bool = False
    images: Callable[[Path, int], list[Path]] | None = None  # a folder camera replaying these files
    change: Callable[[Config], Config] | None = None  # the case's own settings


def _case(name, what, fault, *targets, **kw) -> tuple[str, LineCase]:
    return name, LineCase(name, what, fault, tuple(targets), **kw)


CASES: dict[str, LineCase] = dict([
    _case("kill-camera", "kill -9 of the camera service", f.kill("camera:top"), "camera:top"),
    _case("kill-detector", "kill -9 of the detector", f.kill("detector:0"), "detector:0"),
    _case("kill-actuator", "kill -9 of the actuator", f.kill("actuator"), "actuator"),
    _case("kill-recorder", "kill -9 of the recorder", f.kill("recorder"), "recorder"),
    _case("kill-supervisor", "kill -9 of the supervisor, then a new `inspector run`", f.kill_supervisor, "*"),
    _case("plc-killed", "kill -9 of the PLC (simulator)", f.kill("plc-simulator"), "plc-simulator"),
    _case("plc-hung", "the PLC stops answering for 3 s (SIGSTOP)", f.frozen("plc-simulator", 3.0)),
    _case("bad-messages", "malformed, 6 MiB, 200 MiB and 100,000-deep messages to every bound socket", f.bad_messages),
    _case("corrupt-database", "the recorder's database overwritten with garbage", None),  # set below
    _case("image-folder-unwritable", "the recorder's image folder replaced by a file", None),
    _case("bad-images", "a folder camera with blank, saturated, truncated, corrupt and 16x1024 images", None,
          images=bad_image_folder),
    # issue 24: a key holder, frozen services, another local user, damaged images
    _case("key-holder-big-integers", "a key holder's part ids 2^63 and 2^40 and a sequence jumped by 2^63 "
          "(part-seen, verdict, decision, alarm)", f.big_integers),
    _case("key-holder-verdict-flood", "100 malformed 3.9 MiB verdicts with the detector's key", f.verdict_flood),
    _case("sigstop-camera", "SIGSTOP of the camera for 5 s", f.frozen("camera:top", 5.0), "camera:top"),
    _case("sigstop-detector", "SIGSTOP of the detector for 5 s", f.frozen("detector:0", 5.0), "detector:0"),
    _case("sigstop-actuator", "SIGSTOP of the actuator for 5 s", f.frozen("actuator", 5.0), "actuator"),
    _case("sigstop-recorder", "SIGSTOP of the recorder for 5 s", f.frozen("recorder", 5.0), "recorder"),
    _case("plc-hung-twice", "the PLC stops answering for 5 s (SIGSTOP), twice", f.frozen("plc-simulator", 5.0, times=2)),
    _case("squat-actuator", "another user (nobody) binds the actuator's verdicts endpoint as it restarts "
          "(default socket files)", f.squat("verdicts", "actuator"), "actuator"),
    _case("squat-recorder", "another user (nobody) binds the recorder's decisions endpoint as it restarts "
          "(default socket files)", f.squat("decisions", "recorder"), "recorder"),
    _case("squat-actuator-tcp", "another user (nobody) holds the actuator's verdicts port as it restarts "
          "(loopback TCP set)", f.squat("verdicts", "actuator"), "actuator", tcp=True),
    _case("squat-recorder-tcp", "another user (nobody) holds the recorder's decisions port as it restarts "
          "(loopback TCP set)", f.squat("decisions", "recorder"), "recorder", tcp=True),
    _case("files-and-endpoints", "a line started with umask 022: what another local user can read; where the "
          "metrics endpoints listen", f.files_and_endpoints, change=lambda c: _with_metrics(c)),
    _case("model-substituted-line", "another package signed by the trusted key put at the configured model path, "
          "the line restarted", substituted_at_restart, change=signed_model_station),
    _case("damaged-images", "a folder camera with JPEGs of defective parts cut at 50 % + end-of-image marker and a "
          "10000x10000 PNG", None, images=damaged_image_folder),
])


def _corrupt_database(station: Station) -> dict:
    Path(station.config.recorder.database).write_bytes(b"this is not a database" * 1000)
    return {}


def _image_folder_unwritable(station: Station) -> dict:
    images = Path(station.config.recorder.image_dir)
    for sub in images.iterdir() if images.exists() else []:
        if sub.is_dir():
            sub.rename(images.parent / f"{sub.name}-moved")
            sub.write_text("a file where the camera's image folder was")
    return {}


CASES["corrupt-database"] = dataclasses.replace(CASES["corrupt-database"], fault=_corrupt_database)
CASES["image-folder-unwritable"] = dataclasses.replace(CASES["image-folder-unwritable"], fault=_image_folder_unwritable)


def _with_metrics(config: Config) -> Config:
    """Every service's Prometheus endpoint on, at the shipped host, from a port free now."""
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, base_port=free_tcp_ports(1)[0])
    return dataclasses.replace(config, plant=dataclasses.replace(config.plant, metrics=metrics))


def _folder_camera(folder: Path) -> Callable[[Config], Config]:
    def change(config: Config) -> Config:
        cam = dataclasses.replace(config.cameras[0], driver="folder", folder=str(folder), loop=False)
        return dataclasses.replace(config, cameras=[cam])
    return change


def run_case(case: LineCase, parts: int, rate_hz: float, root: Path, startup_grace_s: float | None = None,
             fault_after: int = FAULT_AFTER_DECISIONS) -> dict:
    workdir = root / case.name
    workdir.mkdir(parents=True)
    damaged: list[Path] = []
    change = case.change
    if case.images is not None:
        folder = workdir / "images-in"
        damaged = case.images(folder, parts)
        change = _folder_camera(folder)
    config = station_config(workdir, parts, rate_hz, tcp=case.tcp, change=change, startup_grace_s=startup_grace_s)
    station = Station.make(config, workdir)
    if case.name.startswith("squat"):
        f.open_station_root(station)
    rings = RingWatch(config)
    plc = PlcWatch(config)
    station.start()
    rings.start()
    plc.start()  # reads fail until the simulator is up; the PLC's results are watched from the first
    started = time.monotonic()
    notes: dict = {}
    t_fault = float("inf")
    try:
        run = station.runs[-1]
        if not wait(lambda: len(station.journal(FINAL_OUTCOMES)) >= fault_after or run.poll() is not None,
                    120 + config.supervisor.startup_grace_s) or run.poll() is not None:
            said = (workdir / "run-0.out").read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"{case.name}: the line did not start deciding parts: {' '.join(said)[:300]}")
        t_fault = time.time()
        if case.fault is not None:
            notes = case.fault(station) or {}

        last = {"seen": -1, "t": time.monotonic()}

        def settled() -> bool:  # no part seen for a while (a restarted camera makes its parts again), every part
            seen = set(station.journal())  # seen decided and recorded
            if len(seen) != last["seen"]:
                last.update(seen=len(seen), t=time.monotonic())
            final = set(station.journal(FINAL_OUTCOMES))
            return (len(final) >= parts and seen <= final and len(station.rows()) >= len(final)
                    and time.monotonic() - last["t"] > QUIET_S)

        wait(settled, 300)
        time.sleep(2.0)
    finally:
        if plc.is_alive():
            plc.stop()
        rings.stop()
        station.stop()
    counted = count(case, station, plc, rings, damaged, notes, t_fault)
    counted = json.loads(json.dumps(counted, default=str).replace(str(workdir), "<station>"))  # the temporary folder
    return {"fault": case.name, "what": case.what, **counted, "seconds": round(time.monotonic() - started, 1)}


def count(case: LineCase, station: Station, plc: PlcWatch, rings: RingWatch, damaged: list[Path], notes: dict,
          t_fault: float) -> dict:
    config = station.config
    seen = set(station.journal())
    rows = station.rows()
    per_part = Counter(r["part_id"] for r in rows)
    lost = sorted(p for p in seen if per_part.get(p, 0) != 1)
    delivered = [r["plc_seq"] for r in sorted(rows, key=lambda r: r["decision_seq"] or 0)
                 if r["plc_delivered"] and r["plc_seq"] is not None]
    gate_s = (config.actuator.budget_ms + config.actuator.gate_window_ms) / 1000
    past_gate = [r["part_id"] for r in rows if r["plc_delivered"] and r["t_plc_sent"] is not None
                 and r["t_plc_sent"] - r["t_trigger"] > gate_s + GATE_TOLERANCE_S and r["source"] != "seen_lost"]
    restarts = station.restarts()
    crashed = [f"{name} ({why}{', before the fault' if t < t_fault else ''})" for t, name, why in restarts
               if "*" not in case.targets and name not in case.targets]
    forged = plc.misattributed(rows)
    latched_late = [r for r in rows if r["plc_error"] and "latched it late" in r["plc_error"]]
    notes = dict(notes)
    notes["latched_late"] = [(r["part_id"], r["plc_delivered"], r["plc_seq"]) for r in latched_late]
    notes["no_reply_undelivered"] = sum(1 for r in rows if not r["plc_delivered"] and r["plc_error"]
                                        and "failed to receive reply" in r["plc_error"])
    notes["plc_watch_results"] = len(plc.held)
    notes["not_written_past_gate"] = sum(1 for r in rows if r["source"] != "seen_lost" and r["plc_error"]
                                         and NOT_WRITTEN in r["plc_error"])  # decided too late for the PLC
    notes["refused_messages"] = {name: n for name in ("actuator", "recorder", "detector:0", "camera:top")
                                 if (n := sum(c.get("malformed_messages", 0) for c in station.stop_counters(name)))}
    if case.name.startswith("squat"):
        _squat_outcome(case, station, notes, forged)
    forged += [f"readable by others: {what}" for what in notes.get("open_to_others", [])]
    forged += [f"metrics listening on {where}" for where in notes.get("metrics_not_loopback", [])]
    if case.fault is substituted_at_restart:
        substitution_outcome(station, rows, notes, forged)
    if case.images is not None:
        _image_outcome(station, rows, rings, damaged, notes, forged)
    return {
        "seen": len(seen),
        "decided": len(set(station.journal(FINAL_OUTCOMES))),
        "recorded": len(per_part),
        "recorded_twice": sum(1 for n in per_part.values() if n > 1),
        "plc_confirmed": len(delivered),
        "plc_seq_breaks": sum(1 for a, b in zip(delivered, delivered[1:]) if b != a + 1),
        "failsafe": sum(1 for r in rows if r["result"].startswith("FAILSAFE")),
        "past_gate": len(past_gate),
        "restarts": [f"{name} ({why})" for _, name, why in restarts],
        "crashed": crashed,
        "forged": forged,
        "alarms": sorted(set(station.alarms())),
        "lost": len(lost),
        "lost_parts": lost[:20],
        "notes": notes,
    }


def _squat_outcome(case: LineCase, station: Station, notes: dict, forged: list[str]) -> None:
    """On the default socket files the squatter must be refused; wherever it took the endpoint, the service's bind
    failure must name it."""
    if notes.get("squatter_took_it") and not case.tcp:
        forged.append(f"another user took {notes['endpoint']}")
    if notes.get("bind_failure_seen") and not notes.get("bind_failure_names_holder"):
        forged.append("the bind failure does not name the squatter")


def _image_outcome(station: Station, rows: list, rings: RingWatch, damaged: list[Path], notes: dict,
                   forged: list[str]) -> None:
    """No damaged image inspected as PASS; each refused with its reason; no ring slot above the camera's limit."""
    names = {str(p) for p in damaged}
    passed = [r["part_id"] for r in rows if r["frame_source"] in names and r["result"] == "PASS"]
    forged += [f"part {p}: a damaged image PASSed" for p in passed]
    refusals = [a["text"] or "" for a in station.alarm_rows() if a["code"] == "image_refused"]
    notes["damaged_files"] = len(damaged)
    notes["damaged_refused_with_reason"] = sum(1 for p in damaged if any(str(p) in t for t in refusals))
    notes["damaged_inspected"] = sum(1 for r in rows if r["frame_source"] in names)
    limit = frame_limit_bytes(station.config, station.config.cameras[0].name)
    notes["ring_largest_slot_mib"] = round(rings.largest_slot / 2**20, 1)
    notes["ring_file_mib"] = round(rings.largest_file / 2**20, 1)
    notes["camera_frame_limit_mib"] = round(limit / 2**20, 1)
    if rings.largest_slot > limit:
        forged.append(f"a frame ring slot of {rings.largest_slot} bytes, above the camera's limit of {limit}")

"""The whole line, trigger to PLC write, at a set part rate against the PLC simulator.

Real processes under the real supervisor (camera, detector(s), actuator,
recorder, the cpppo Logix simulator on loopback), on a copy of the station
config with its own data folder and free ports. Latency per hop is read back
from the recorder's database. The accounting proves that every triggered
part got exactly one decision: the camera's ``triggered`` counter (from its
heartbeats) against the recorded rows, the part ids against a gap-free
range, and the actuator's decision count against the rows (a second decision
for a part would be merged into its row, so it is caught by that count).

Cameras: by default (``replay``) each camera replays the station's own
synthetic parts, rendered once beforehand into BMP files; the replay reads
the next file between triggers, so a grab hands over a frame already in
memory, as a real camera's buffer does. Rendering a part
live (``synthetic``) costs tens of milliseconds of CPU per part, which on a
small machine competes with the detector and measures the simulator rather
than the line. ``station`` keeps the configured cameras (a real camera on the
target, hardware-triggered or not).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2

from inspector.bench.frames import station_frames
from inspector.bench.stats import count_by, hop_latencies, percentiles, stage_latencies
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.line_runner import decided_count, part_rows, running_line
from inspector.line_setup import local_line_config

log = logging.getLogger(__name__)

FAILSAFE_RESULTS = ("FAILSAFE_REJECT", "FAILSAFE_PASS")
MAX_LISTED_MISSING = 20
REPLAY_FRAMES = 32

CameraMode = Literal["replay", "synthetic", "station"]


@dataclass(frozen=True)
class LineSettings:
    parts: int = 600
    rate_hz: float = 10.0
    budget_ms: float | None = None  # None = the station's actuator.budget_ms
    camera: CameraMode = "replay"
    settle_timeout_s: float = 120.0  # beyond parts / rate, for the line to start and drain


def bench_config(base: Config, workdir: Path, settings: LineSettings) -> Config:
    """The station config made runnable here: own folder, free ports, PLC simulator, budget, cameras."""
    config = local_line_config(base, workdir, parts=settings.parts, rate_hz=settings.rate_hz)
    if settings.camera == "synthetic":
        cameras = [dataclasses.replace(c, driver="synthetic", trigger_mode="software") for c in config.cameras]
        config = dataclasses.replace(config, cameras=cameras)
    elif settings.camera == "replay":
        folder = write_replay_frames(config, workdir / "replay-frames")
        cameras = [
            dataclasses.replace(c, driver="folder", folder=str(folder), loop=True, trigger_mode="software")
            for c in config.cameras
        ]
        config = dataclasses.replace(config, cameras=cameras)
    if settings.budget_ms is not None:
        config = dataclasses.replace(config, actuator=dataclasses.replace(config.actuator, budget_ms=settings.budget_ms))
    return config


def write_replay_frames(config: Config, folder: Path, count: int = REPLAY_FRAMES) -> Path:
    """The station's first ``count`` synthetic parts as BMP files, in replay order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(station_frames(config, count)):
        path = folder / f"part-{i:04d}.bmp"
        if not cv2.imwrite(str(path), frame):
            raise InspectorError(f"cannot write replay frame {path}")
    return folder


def _counters(supervisor, prefix: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for proc in supervisor.processes:
        if proc.name.startswith(prefix):
            for key, value in proc.counters.items():
                total[key] = total.get(key, 0) + value
    return total


class LineHooks(Protocol):
    """What a benchmark built on the line does around it (model swaps, a shadow run, plant outputs)."""

    def prepare(self, config: Config, workdir: Path) -> Config:
        """Before the line starts: set up what the run needs; returns the config the line runs."""

    def during(self, config: Config, decided: int, counters: dict[str, dict[str, int]]) -> bool:
        """About twice a second while the line runs, with the parts decided so far and the services' counters.

        True holds the line running a little longer once every part is decided (the hook waits for something)."""

    def stopping(self, config: Config) -> None:
        """Every part decided, the line about to stop: let go of what talks to its services."""

    def after(self, config: Config, rows: list[dict], counters: dict[str, dict[str, int]]) -> dict[str, Any]:
        """Once the line stopped (``counters``: each kind of service's final heartbeat counters): figures added to the line's result."""


def run_line(base: Config, workdir: Path, settings: LineSettings, hooks: LineHooks | None = None) -> dict[str, Any]:
    """Run ``settings.parts`` parts through the line and report latency, decisions and accounting."""
    config = bench_config(base, workdir, settings)
    if hooks is not None:
        config = hooks.prepare(config, workdir)
    expected = settings.parts * len(config.cameras)
    deadline_s = settings.parts / settings.rate_hz + settings.settle_timeout_s
    started = time.monotonic()
    with running_line(config, workdir) as supervisor:
        while True:
            camera = _counters(supervisor, "camera:")
            actuator = _counters(supervisor, "actuator")
            triggered = camera.get("triggered", 0)
            hold = False
            if hooks is not None:
                hold = hooks.during(config, decided_count(config), {"camera": camera, "detector": _counters(supervisor, "detector:")})
            if (triggered >= expected and decided_count(config) >= triggered and actuator.get("decisions", 0) >= triggered
                    and not hold):
                break
            if time.monotonic() - started > deadline_s:
                raise InspectorError(
                    f"the line decided {decided_count(config)} of {triggered} triggered parts within {deadline_s:.0f}s; "
                    f"see the logs in {workdir / 'logs'}"
                )
            time.sleep(0.5)
        if hooks is not None:
            hooks.stopping(config)
        time.sleep(2 * config.supervisor.heartbeat_interval_s)  # final counters
        counters = {
            "camera": _counters(supervisor, "camera:"),
            "detector": _counters(supervisor, "detector:"),
            "actuator": _counters(supervisor, "actuator"),
            "recorder": _counters(supervisor, "recorder"),
        }
        restarts = {p.name: p.restarts for p in supervisor.processes if p.restarts}
    rows = [dict(r) for r in part_rows(config)]
    result = summarize_line(rows, counters, restarts, config, settings)
    if hooks is not None:
        result.update(hooks.after(config, rows, counters))
    return result


def account(rows: list[dict], triggered: int, actuator_decisions: int, restarts: dict[str, int]) -> dict[str, Any]:
    """Every triggered part has exactly one decision: the proof, in numbers."""
    missing: list[str] = []
    for camera in sorted({r["camera"] for r in rows}):
        ids = sorted(r["part_id"] for r in rows if r["camera"] == camera)
        present = set(ids)
        missing += [f"{camera}:{i}" for i in range(ids[0], ids[-1] + 1) if i not in present]
    decided = len(rows)
    return {
        "triggered": triggered,
        "decided": decided,
        "missing_part_ids": len(missing),
        "missing_part_ids_first": missing[:MAX_LISTED_MISSING],
        "actuator_decisions": actuator_decisions,
        "duplicate_decisions": max(actuator_decisions - decided, 0),
        "silent_drops": max(triggered - decided, 0) + len(missing),
        "process_restarts": restarts,
        "complete": not restarts,  # a restarted camera's counters start again; its parts are still checked by id
    }


def summarize_line(
    rows: list[dict], counters: dict[str, dict[str, int]], restarts: dict[str, int], config: Config, settings: LineSettings
) -> dict[str, Any]:
    budget = config.actuator.budget_ms
    hops = hop_latencies(rows)
    results = count_by(rows, "result")
    failsafe = sum(results.get(r, 0) for r in FAILSAFE_RESULTS)
    end_to_end = hops["trigger_to_plc_write"]
    over_budget = sum(1 for ms in end_to_end if ms > budget)
    triggers = sorted(r["t_trigger"] for r in rows)
    span = triggers[-1] - triggers[0] if len(triggers) > 1 else 0.0
    accounting = account(rows, counters["camera"].get("triggered", 0), counters["actuator"].get("decisions", 0), restarts)
    plc_undelivered = sum(1 for r in rows if not r["plc_delivered"])
    reasons = []
    if accounting["silent_drops"]:
        reasons.append(f"{accounting['silent_drops']} part(s) without a decision")
    if failsafe:
        reasons.append(f"{failsafe} fail-safe decision(s)")
    if over_budget:
        reasons.append(f"{over_budget} PLC write(s) later than the {budget:g} ms budget")
    if plc_undelivered:
        reasons.append(f"{plc_undelivered} decision(s) not delivered to the PLC")
    return {
        "parts_per_camera": settings.parts,
        "cameras": len(config.cameras),
        "rate_hz": settings.rate_hz,
        "achieved_rate_hz": round((len(triggers) - 1) / span, 2) if span else float("nan"),
        "budget_ms": budget,
        "camera": settings.camera,
        "detector_instances": config.detector.instances,
        "keep_warm_s": config.detector.keep_warm_s,
        "results": results,
        "failsafe": failsafe,
        "over_budget": over_budget,
        "plc_undelivered": plc_undelivered,
        "hops_ms": {name: percentiles(values) for name, values in hops.items()},
        "detector_stages_ms": {name: percentiles(values) for name, values in stage_latencies(rows).items()},
        "accounting": accounting,
        "counters": counters,
        "verdict": "FAIL" if reasons else "PASS",
        "reasons": reasons,
        "samples_ms": {"trigger_to_plc_write": end_to_end, "trigger_to_plc_request": hops["trigger_to_plc_request"]},
    }

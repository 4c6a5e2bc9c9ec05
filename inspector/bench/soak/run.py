"""One soak: warm-up, then one fault per slot (fault, then recovery) until the time is up, a final recovery, the records.

The figures are read after the line stopped, from its own records (the
actuator's journal, the recorder's database and alarm history), beside what
the plant's side received (MQTT subscriber, OPC UA client, Prometheus).
Ctrl-C ends the current fault (it is undone), keeps the final recovery
window (a second Ctrl-C skips it) and still writes the report.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import itertools
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.soak.accounting import (
    CameraRun, Window, alarm_history, alarms_by_window, journaled_parts, part_accounting, recent_parts, record_counts,
    standing_at,
)
from inspector.bench.soak.faults import BALLAST, run_fault
from inspector.bench.soak.procs import signal_pid
from inspector.bench.soak.resources import logs_bounded, metrics_vs_records, rss_growth
from inspector.bench.soak.settings import SoakSettings
from inspector.bench.soak.station import SoakStation

MIN_RECOVERY_S = 5.0
QUIESCE_S = 1.5
WATCHDOG_MARGIN_S = 1800.0


class Interrupts:
    """Ctrl-C / SIGTERM: the first ends the faults, the second skips the waiting, the third is Python's own."""

    def __init__(self, station: SoakStation, progress: Callable[[str], None]) -> None:
        self.station, self.progress, self.count = station, progress, 0
        self._saved = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.station.stopping.set()
        if self.count == 1:
            self.progress("stopping: the current fault is undone, then a final recovery window (Ctrl-C again to skip it)")
        else:
            self.progress("stopping now (Ctrl-C again interrupts the teardown)")
            signal.signal(signal.SIGINT, signal.default_int_handler)

    @property
    def hurry(self) -> bool:
        return self.count >= 2

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _wait(station: SoakStation, seconds: float, interrupts: Interrupts) -> None:
    """Wait even after a first Ctrl-C (the final recovery), not after a second."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not interrupts.hurry:
        station.watch()
        time.sleep(0.2)


def _fault_line(station: SoakStation, w: Window) -> str:
    parts, failsafe = recent_parts(station.config, w.t_start, w.t_end)
    seen = journaled_parts(station.config, w.t_start, w.t_end)
    status = w.skipped and f"skipped: {w.skipped}" or w.error and f"error: {w.error}" or "; ".join(w.detail)
    back = f", cause ended after {w.t_cause_end - w.t_start:.1f} s" if w.t_cause_end else ""
    return (f"[{time.strftime('%H:%M:%S')}] {w.name}: {seen} parts journaled, {parts} recorded so far, {failsafe} fail-safe"
            f"{back}; {status}")


def run_soak(settings: SoakSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    settings.check()
    temp = None if settings.workdir else tempfile.TemporaryDirectory(prefix="inspector-soak-")
    workdir = Path(settings.workdir or temp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    station = SoakStation(settings, workdir, progress)
    interrupts = Interrupts(station, progress)
    faulthandler.dump_traceback_later(settings.duration_s + WATCHDOG_MARGIN_S, exit=True)  # never hang: the tied children die with it
    windows: list[Window] = []
    result: dict[str, Any] = {"workdir": str(workdir), "t_started": time.time()}
    t_measure_end = None
    try:
        station.start()
        t0 = result["t_started"]
        end_by = t0 + settings.duration_s
        station.idle(max(0.0, t0 + settings.warmup_s - time.time()))
        windows.append(Window("warm-up", "no faults", t0, time.time()))
        progress(_fault_line(station, windows[-1]))
        result["t_warm"] = time.time()
        result["logs_at_warm"] = station.log_size()
        station.sample()
        station.screenshot("after warm-up")
        for name in itertools.cycle(settings.faults or [""]):
            if station.stopping.is_set() or not name or time.time() + settings.fault_every_s + settings.final_recovery_s > end_by:
                break
            rec = run_fault(station, name)
            station.idle(max(rec.t_start + settings.fault_every_s, time.time() + MIN_RECOVERY_S) - time.time())
            windows.append(Window(rec.name, rec.what, rec.t_start, time.time(), rec.t_cause_end, True, rec.detail, rec.skipped,
                                  rec.error, None if rec.skipped or rec.error else rec.expected_alarm))
            progress(_fault_line(station, windows[-1]))
        start_final = time.time()
        _wait(station, max(settings.final_recovery_s, end_by - start_final if not station.stopping.is_set() else 0), interrupts)
        windows.append(Window("final recovery", "no faults", start_final, time.time()))
        progress(_fault_line(station, windows[-1]))
        t_measure_end = time.time()
        result["logs_at_end"] = station.log_size()
        station.sample()
        station.screenshot("end")
        result["records_at_quiesce"], result["prometheus"] = _drain_and_compare(station, settings, t_measure_end, interrupts)
    except Exception as err:  # noqa: BLE001 - the report says what stopped the soak
        result["error"] = f"{type(err).__name__}: {err}"
        progress(f"soak stopped by an error: {result['error']}")
    finally:
        progress("stopping the station and the plant around it")
        station.stop()
        faulthandler.cancel_dump_traceback_later()
        interrupts.restore()
    t_stopped = time.time()
    if t_measure_end is None:
        t_measure_end = t_stopped
    if windows:
        windows.append(Window("drain and stop", "the line stopped (SIGTERM to the supervisor)", t_measure_end, t_stopped))
    result.update(_figures(station, settings, windows, t_measure_end, t_stopped))
    if "logs_at_warm" in result:
        hours = max(1e-9, (t_measure_end - result["t_warm"]) / 3600)
        result["logs"] = logs_bounded(result["logs_at_warm"], result.get("logs_at_end", result["logs_at_warm"]), hours,
                                      settings.log_limit, settings.log_month_limit)
    result["t_measure_end"], result["t_stopped"] = t_measure_end, t_stopped
    if temp is not None and not settings.keep_workdir:
        (workdir / BALLAST).unlink(missing_ok=True)
        temp.cleanup()
    return result


def _drain_and_compare(station: SoakStation, settings: SoakSettings, t_cut: float, interrupts: Interrupts) -> tuple[dict, dict]:
    """Wait for MQTT to deliver what was recorded up to ``t_cut``; then, with the camera paused, Prometheus against the records."""
    deadline = time.monotonic() + settings.mqtt_drain_s
    while time.monotonic() < deadline and not interrupts.hurry:
        recorded, _ = recent_parts(station.config, 0, t_cut)
        station.tap.read_new()
        _, parts, _, _ = station.tap.snapshot()
        if sum(1 for _, _, t in parts if t < t_cut) >= recorded:
            break
        time.sleep(1.0)
    cameras = [pid for name, pid in station.children().items() if name.startswith("camera:")]
    for pid in cameras:
        signal_pid(pid, signal.SIGSTOP)
    try:
        time.sleep(QUIESCE_S)
        station.scraper.scrape_all()
        records = record_counts(station.config)
    finally:
        for pid in cameras:
            signal_pid(pid, signal.SIGCONT)
    increase, resets, scrapes, failures = station.scraper.totals()
    per_scrape = settings.rate_hz * settings.scrape_every_s
    return records, {"comparison": metrics_vs_records(increase, resets, records, per_scrape), "resets": resets,
                     "scrapes": scrapes, "failures": failures}


def _camera_runs(station: SoakStation) -> dict[str, list[CameraRun]]:
    """Each camera's runs (process starts), with its 'triggered' counter as last scraped."""
    runs: dict[str, list[CameraRun]] = {}
    for name, instances in station.instances.items():
        if name.startswith("camera:"):
            runs[name.split(":", 1)[1]] = [
                CameraRun(t, None if station.scraper is None else
                          station.scraper.last_value(name, pid, "inspector_service_events_total", event="triggered"))
                for pid, t in instances]
    return runs


def _figures(station: SoakStation, settings: SoakSettings, windows: list[Window], t_measure_end: float,
             t_stopped: float) -> dict[str, Any]:
    if station.config is None or not windows:
        return {"windows": [], "findings": station.findings, "notes": station.notes}
    per_topic, mqtt_parts, mqtt_alarms, unreadable = station.tap.snapshot() if station.tap else ({}, [], [], 0)
    opcua_events = station.opcua.snapshot() if station.opcua else []
    counts, part_notes = part_accounting(station.config, windows, mqtt_parts, opcua_events, _camera_runs(station), settings.rate_hz)
    episodes, events = alarm_history(station.config)
    alarms = alarms_by_window(episodes, events, windows, settings.clear_limit_s, t_measure_end)
    out_windows = []
    for w, c, a in zip(windows, counts, alarms):
        out_windows.append({**dataclasses.asdict(w), "parts": dataclasses.asdict(c),
                            "alarms": {"raised": a["raised"], "events": dict(a["events"])},
                            "standing_at_end": standing_at(episodes, w.t_end)})
    t_warm = next((w.t_end for w in windows if w.name == "warm-up"), windows[0].t_end)
    hmi = station.hmi
    return {
        "windows": out_windows,
        "part_notes": part_notes,
        "standing_at_measure_end": standing_at(episodes, t_measure_end),
        "alarm_episodes": len(episodes), "alarm_events": len(events),
        "hmi": {
            "supervised": bool(hmi and hmi.supervised), "timeline": hmi.timeline if hmi else [],
            "down": hmi.down if hmi else [], "restarted_by_soak": hmi.restarted_by_soak() if hmi else 0,
            "unexpected_deaths": hmi.unexpected_deaths() if hmi else [],
            "window_checks": len(station.windows), "window_missing": [t for t, ok in station.windows if not ok],
            "screenshots": station.screenshots,
        },
        "rss": rss_growth(station.rss, t_warm, settings.warmup_s, settings.rss_min_span_s, settings.rss_growth_limit),
        "infra_rss": rss_growth(station.infra_rss, t_warm, settings.warmup_s, settings.rss_min_span_s, settings.rss_growth_limit),
        "mqtt": {"per_topic": per_topic, "part_messages": len(mqtt_parts), "alarm_messages": len(mqtt_alarms),
                 "unreadable": unreadable, "broker_restarts": station.broker.restarts},
        "opcua": {"connects": station.opcua.connects if station.opcua else 0,
                  "sessions": station.opcua.sessions if station.opcua else [],
                  "errors": station.opcua.errors[-10:] if station.opcua else [], "events": len(opcua_events)},
        "restarts": {name: len(runs) - 1 for name, runs in station.instances.items()},
        "findings": station.findings,
        "notes": station.notes,
    }

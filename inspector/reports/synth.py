"""A month of synthetic production, fast-forwarded, written into a real recorder database.

What it models (seeded, so the same month comes out every time): three shifts
a day at ``rate`` parts per second with jitter; stops (jams of minutes, a
planned maintenance stop of four hours, a night-shift outage of two hours);
defective parts at 2-3 % (more at night); the model rejecting nearly all of
them, plus false rejects of good parts (0.8 % with the first model, 0.3 % after
a model change in the middle of the month); operators marking most rejects
"Good part" or "Defect" on the HMI; fail-safe decisions (mostly in a burst
when a detector restarted) with their alarms; trigger-to-PLC latencies with
a tail; and a downstream audit's escapes, imported from a CSV file through
the same path as ``inspector report escapes import``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.errors import ReportError
from inspector.reports.escapes import import_escapes
from inspector.reports.shifts import Period, local_time
from inspector.records.station import StationDatabase
from inspector.records.store import Store

log = logging.getLogger(__name__)

MODEL_V1 = "disc-yolov8n v1.3"
MODEL_V2 = "disc-yolov8n v1.4"
DEFECT_CLASSES = ("scratch", "dent", "crack", "stain", "missing_hole")


@dataclass(frozen=True)
class SynthSummary:
    parts: int
    rejects: int
    false_rejects_marked: int
    failsafes: int
    escapes: int
    stops: int
    model_change: float


def _stops(period: Period, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Downtime intervals (start, end): jams, one maintenance stop, one outage."""
    days = round((period.end - period.start) / 86400)
    stops = []
    for day in range(days):
        base = period.start + day * 86400
        for _ in range(rng.poisson(2.0)):  # jams: a few minutes to half an hour
            start = base + rng.uniform(0, 86400)
            stops.append((start, start + rng.uniform(5, 35) * 60))
    maintenance = period.start + min(9, days - 1) * 86400 + 8 * 3600  # day 10, 08:00-12:00
    stops.append((maintenance, maintenance + 4 * 3600))
    outage = period.start + min(21, days - 1) * 86400 + 23.5 * 3600  # day 22, 23:30-01:30
    stops.append((outage, outage + 2 * 3600))
    return sorted(stops)


def synth_month(database: Path, period: Period, station: str = "station-1", camera: str = "top",
                rate: float = 0.2, seed: int = 2026, audit_csv: Path | None = None) -> SynthSummary:
    """Write ``period``'s production into ``database`` (which must not hold parts of that period yet)."""
    if not 0.001 <= rate <= 20:
        raise ReportError(f"--rate: parts per second must be between 0.001 and 20, got {rate}")
    rng = np.random.default_rng(seed)
    store = Store(database, Path(database).parent / "images")
    try:
        clash = store.parts_between(period.start, period.end)
        if clash:
            raise ReportError(f"{database} already holds {clash} parts of {period.label}: use a new database")
        first_id = store.last_part_id(camera) + 1
        n = int((period.end - period.start) * rate)
        t = period.start + (np.arange(n) + rng.uniform(0, 0.8, n)) / rate
        stops = _stops(period, rng)
        running = np.ones(n, bool)
        for lo, hi in stops:
            running[np.searchsorted(t, lo):np.searchsorted(t, hi)] = False
        # a detector restart: ten minutes of fail-safe decisions on day 18, 03:10
        burst = period.start + 17 * 86400 + 3 * 3600 + 600
        t = t[running]
        n = t.size
        change = period.start + 14 * 86400 + 6 * 3600  # model change at the start of the early shift, day 15
        v2 = t >= change
        day_index = ((t - period.start) // 86400).astype(int)
        offsets = np.array([local_time(period.start + d * 86400 + 43200, period.timezone).utcoffset().total_seconds()
                            for d in range(int(day_index.max(initial=0)) + 1)])
        local_hour = ((t + offsets[day_index]) // 3600) % 24
        night = (local_hour >= 22) | (local_hour < 6)
        day_factor = 1 + 0.25 * np.sin((t - period.start) / 86400 * 2 * np.pi / 7)
        defective = rng.random(n) < np.where(night, 0.03, 0.022) * day_factor
        false_reject_p = np.where(v2, 0.003, 0.008)
        escape_p = np.where(v2, 0.004, 0.01)  # share of defective parts the model passes
        model_rejects = np.where(defective, rng.random(n) >= escape_p, rng.random(n) < false_reject_p)
        in_burst = (t >= burst) & (t < burst + 600)
        failsafe = in_burst | (rng.random(n) < 0.0003)
        result = np.where(failsafe, "FAILSAFE_REJECT", np.where(model_rejects, "REJECT", "PASS"))
        latency = rng.lognormal(np.log(np.where(v2, 48.0, 44.0)), 0.18) + rng.exponential(3.0, n)
        latency[failsafe] = 250 + rng.uniform(1, 6, failsafe.sum())  # decided at the budget
        delivered = rng.random(n) > 0.00005
        versions = np.where(v2, MODEL_V2, MODEL_V1)
        ids = np.arange(first_id, first_id + n)
        rows = []
        for i in range(n):
            res = result[i]
            lat = float(latency[i]) if delivered[i] else None
            dets = "[]"
            if res == "REJECT":
                cls = DEFECT_CLASSES[int(rng.integers(len(DEFECT_CLASSES)))] if defective[i] else "stain"
                dets = json.dumps([{"cls": cls, "score": round(float(rng.uniform(0.4, 0.98)), 3), "box": [100.0, 120.0, 160.0, 170.0]}])
            t_trig = float(t[i])
            rows.append((camera, int(ids[i]), station, res, "deadline" if failsafe[i] else "verdict",
                         None if failsafe[i] else res, t_trig, t_trig + (lat or 30) / 1000 - 0.02, t_trig + (lat or 30) / 1000 - 0.001,
                         None if lat is None else t_trig + lat / 1000, lat, int(delivered[i]), "" if delivered[i] else "PLC timeout",
                         int(ids[i]), int(ids[i]) if delivered[i] else None, "" if failsafe[i] else str(versions[i]), dets,
                         "{}", "", "synthetic-month"))
        columns = ("camera", "part_id", "station", "result", "source", "verdict_result", "t_trigger", "t_verdict", "t_decided",
                   "t_plc_written", "latency_ms", "plc_delivered", "plc_error", "decision_seq", "plc_seq", "model_version",
                   "detections", "timings_ms", "reason", "frame_source")
        alarms = [(burst + 5, station, "supervisor", "service_down", "critical", "detector silent for 5 s; restarting it", 1, None),
                  (burst + 8, station, "actuator", "failsafe_decision", "warning", "parts failed safe: no verdict in time", 1, None)]
        for lo, hi in stops:
            if hi - lo > 3600:
                alarms.append((lo + 30, station, "camera", "camera_lost", "critical", "camera top lost; reopening", 1, None))
        for i in np.nonzero(failsafe & ~in_burst)[0]:
            alarms.append((float(t[i]) + 0.3, station, "actuator", "failsafe_decision", "warning", f"part {int(ids[i])}: FAILSAFE_REJECT", 1, int(ids[i])))
        store.load_history(columns, rows, alarms)
        marks = _operator_marks(Path(database), camera, ids, t, result, defective, rng)
        escapes_idx = np.nonzero(defective & (result == "PASS"))[0]
    finally:
        store.close()
    audit_csv = audit_csv or Path(database).with_name(f"audit-escapes-{period.slug}.csv")
    found = [i for i in escapes_idx if rng.random() < 0.6]  # the audit finds most escapes
    with open(audit_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time", "count", "part_id", "camera", "defect", "note"])
        for i in found:
            writer.writerow([local_time(float(t[i]), period.timezone).strftime("%Y-%m-%d %H:%M:%S"), 1, int(ids[i]), camera,
                             DEFECT_CLASSES[int(rng.integers(len(DEFECT_CLASSES)))], "customer audit"])
    imported = import_escapes(Path(database), audit_csv, period.timezone)
    log.info("synthetic month %s: %d parts, escapes file %s", period.label, n, audit_csv)
    return SynthSummary(n, int(np.isin(result, ("REJECT", "FAILSAFE_REJECT")).sum()), marks, int(failsafe.sum()), imported.added,
                        len(stops), change)


def _operator_marks(database: Path, camera: str, ids: np.ndarray, t: np.ndarray, result: np.ndarray,
                    defective: np.ndarray, rng: np.random.Generator) -> int:
    """Operators look at most rejects: a good part is marked 'Good part' (false reject), a bad one 'Defect'."""
    rejects = np.nonzero(np.isin(result, ("REJECT", "FAILSAFE_REJECT")))[0]
    looked = rejects[rng.random(rejects.size) < 0.85]
    rows = [(camera, int(ids[i]), "true_defect" if defective[i] else "false_reject", str(result[i]), float(t[i]),
             ("anna", "ben", "chen")[int(rng.integers(3))], float(t[i]) + 60) for i in looked]
    with StationDatabase(database) as db:  # people's tables, created as the HMI creates them
        db.load_marks(rows)
    return sum(1 for r in rows if r[2] == "false_reject")

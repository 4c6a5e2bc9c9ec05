"""A report's figures, computed from one or more stations' recorder databases.

Definitions (the same on every report):

- inspected: parts with a decision whose trigger time falls in the period;
- reject rate: (model rejects + fail-safe rejects) / inspected;
- false rejects: rejects an operator marked "Good part" on the HMI (``reject_marks``, read by
  :mod:`inspector.records.period`),
  false-reject rate: false rejects / inspected (as the HMI counts it);
- escapes: imported from downstream audits (``report_escapes``), escape rate: escapes / inspected;
- fail-safes: decisions made without a verdict in time (FAILSAFE_REJECT and FAILSAFE_PASS);
- availability: time the line ran / planned time, where planned time is the part of the
  configured shifts inside the period (up to now), and a gap between parts (or between a
  shift's start or end and its nearest part) longer than ``reports.downtime_gap_s`` is downtime;
- latency: trigger to the PLC's confirmation of the write, p50 and p99;
- money: false rejects x cost + escapes x cost, against the baseline's rates on the same
  parts; savings = baseline cost - cost; net = savings - the station's running cost
  prorated to the period; ROI = net / running cost.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.config.schema import ReportsConfig
from inspector.errors import ReportError, StoreError
from inspector.records.period import read_period
from inspector.reports.shifts import Period, local_time, shift_period, zone

REJECTS = ("REJECT", "FAILSAFE_REJECT")
FAILSAFES = ("FAILSAFE_REJECT", "FAILSAFE_PASS")
HOURS_PER_MONTH = 365.25 * 24 / 12


@dataclass
class StationData:
    """The rows of one station (or several, concatenated) inside a period."""

    name: str
    t: np.ndarray  # trigger times, sorted
    result: np.ndarray  # result strings
    latency_ms: np.ndarray  # NaN where the PLC write was not confirmed
    model_version: np.ndarray
    false_reject_t: np.ndarray  # trigger times of rejects marked good parts
    defect_t: np.ndarray  # trigger times of rejects confirmed as defects
    escape_t: np.ndarray  # escape times, one entry per escaped part
    alarms: list[tuple[float, str, str]]  # (t, severity, code)

    @classmethod
    def combine(cls, name: str, parts: list[StationData]) -> StationData:
        order = np.argsort(np.concatenate([p.t for p in parts]), kind="stable")
        cat = lambda attr: np.concatenate([getattr(p, attr) for p in parts])
        return cls(
            name, cat("t")[order], cat("result")[order], cat("latency_ms")[order], cat("model_version")[order],
            np.sort(cat("false_reject_t")), np.sort(cat("defect_t")), np.sort(cat("escape_t")),
            sorted(a for p in parts for a in p.alarms),
        )


def load_station(database: Path, period: Period) -> StationData:
    """Read one station's database (read-only) for ``period``."""
    database = Path(database)
    if not database.is_file():
        raise ReportError(f"the station database {database} does not exist")
    try:
        records = read_period(database, period.start, period.end)
    except StoreError as err:
        raise ReportError(str(err)) from err
    marks: dict[str, list[float]] = {"false_reject": [], "true_defect": []}
    for t, mark in records.marks:
        marks[mark].append(t)
    escapes: list[float] = []
    for t, count in records.escapes:
        escapes.extend([t] * count)
    rows = records.parts
    return StationData(
        name=records.station or database.stem,
        t=np.array([r[0] for r in rows], dtype=float),
        result=np.array([r[1] for r in rows], dtype=object),
        latency_ms=np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float),
        model_version=np.array([r[3] for r in rows], dtype=object),
        false_reject_t=np.sort(np.array(marks["false_reject"], dtype=float)),
        defect_t=np.sort(np.array(marks["true_defect"], dtype=float)),
        escape_t=np.sort(np.array(escapes, dtype=float)),
        alarms=records.alarms,
    )


@dataclass(frozen=True)
class Money:
    currency: str
    false_reject_cost: float
    escape_cost: float
    baseline_label: str
    baseline_cost: float
    savings: float
    system_cost: float  # running cost prorated to the period
    net: float
    roi: float | None  # net / system cost; None without a running cost


@dataclass(frozen=True)
class ModelUse:
    version: str
    parts: int
    first: float
    last: float


@dataclass(frozen=True)
class Bucket:
    """One hour (shift report) or one day (monthly report)."""

    start: float
    label: str
    inspected: int
    rejected: int  # incl. fail-safe rejects
    false_rejects: int
    failsafes: int
    escapes: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    availability: float | None


@dataclass(frozen=True)
class Figures:
    station: str
    period: Period
    inspected: int
    passed: int
    rejected: int  # REJECT + FAILSAFE_REJECT
    model_rejects: int
    failsafe_rejects: int
    failsafe_passes: int
    false_rejects: int
    confirmed_defects: int
    escapes: int
    planned_s: float
    downtime_s: float
    stops: list[tuple[float, float]]  # (start, seconds) of each downtime longer than the gap
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    plc_confirmed: int
    models: list[ModelUse]
    alarms: dict[str, int]  # severity -> count of alarms raised
    alarm_codes: dict[str, int]
    money: Money
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def failsafes(self) -> int:
        return self.failsafe_rejects + self.failsafe_passes

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.inspected if self.inspected else 0.0

    @property
    def false_reject_rate(self) -> float:
        return self.false_rejects / self.inspected if self.inspected else 0.0

    @property
    def escape_rate(self) -> float:
        return self.escapes / self.inspected if self.inspected else 0.0

    @property
    def availability(self) -> float | None:
        return None if self.planned_s <= 0 else max(0.0, 1 - self.downtime_s / self.planned_s)


def planned_intervals(period: Period, reports: ReportsConfig, now: float) -> list[tuple[float, float]]:
    """The configured shifts' time inside the period and before ``now`` (the whole period without shifts), merged."""
    end = min(period.end, now)
    if end <= period.start:
        return []
    if not reports.shifts:
        return [(period.start, end)]
    tz = zone(reports.timezone)
    day = dt.datetime.fromtimestamp(period.start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    spans = []
    while day <= last:
        for shift in reports.shifts:
            p = shift_period(day, shift, reports.timezone)
            lo, hi = max(p.start, period.start), min(p.end, end)
            if lo < hi:
                spans.append((lo, hi))
        day += dt.timedelta(days=1)
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def downtime(t: np.ndarray, intervals: list[tuple[float, float]], gap_s: float) -> tuple[float, list[tuple[float, float]]]:
    """Total downtime and the stops (start, seconds): gaps longer than ``gap_s`` inside the intervals."""
    total, stops = 0.0, []
    for lo, hi in intervals:
        inside = t[np.searchsorted(t, lo, "left"):np.searchsorted(t, hi, "left")]
        edges = np.concatenate([[lo], inside, [hi]])
        gaps = np.diff(edges)
        for i in np.nonzero(gaps > gap_s)[0]:
            stops.append((float(edges[i]), float(gaps[i])))
            total += float(gaps[i])
    return total, stops


def _percentile(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q)) if values.size else None


def _money(reports: ReportsConfig, period: Period, inspected: int, false_rejects: int, escapes: int) -> Money:
    c, b = reports.costs, reports.baseline
    fr_cost, esc_cost = false_rejects * c.false_reject, escapes * c.escape
    baseline = inspected * (b.false_reject_rate * c.false_reject + b.escape_rate * c.escape)
    savings = baseline - fr_cost - esc_cost
    system = c.system_per_month * period.hours / HOURS_PER_MONTH
    net = savings - system
    return Money(reports.currency, fr_cost, esc_cost, b.label, baseline, savings, system, net, net / system if system > 0 else None)


def _bucket_starts(period: Period) -> list[tuple[float, str]]:
    tz = zone(period.timezone)
    start = local_time(period.start, period.timezone)
    step = dt.timedelta(hours=1) if period.kind == "shift" else dt.timedelta(days=1)
    fmt = "%H:%M" if period.kind == "shift" else "%d"
    out, cur = [], start
    while cur.timestamp() < period.end:
        out.append((cur.timestamp(), cur.strftime(fmt)))
        # wall-clock steps: a day is 23 or 25 hours across a daylight-saving change
        cur = (cur.replace(tzinfo=None) + step).replace(tzinfo=tz)
    return out


def _count_in(values: np.ndarray, lo: float, hi: float) -> int:
    return int(np.searchsorted(values, hi, "left") - np.searchsorted(values, lo, "left"))


def compute(data: StationData, period: Period, reports: ReportsConfig, now: float | None = None) -> Figures:
    now = time.time() if now is None else now
    result = data.result
    is_reject = np.isin(result, REJECTS)
    is_failsafe = np.isin(result, FAILSAFES)
    intervals = planned_intervals(period, reports, now)
    down, stops = downtime(data.t, intervals, reports.downtime_gap_s)
    planned = sum(hi - lo for lo, hi in intervals)
    models = []
    for version in sorted(set(data.model_version.tolist()) - {""}):  # fail-safe decisions name no model
        times = data.t[data.model_version == version]
        models.append(ModelUse(version, int(times.size), float(times[0]), float(times[-1])))
    models.sort(key=lambda m: m.first)
    alarms: dict[str, int] = {}
    codes: dict[str, int] = {}
    for _, severity, code in data.alarms:
        alarms[severity] = alarms.get(severity, 0) + 1
        codes[code] = codes.get(code, 0) + 1
    inspected = int(data.t.size)
    false_rejects = int(data.false_reject_t.size)
    escapes = int(data.escape_t.size)
    buckets = []
    starts = _bucket_starts(period)
    for i, (lo, label) in enumerate(starts):
        hi = starts[i + 1][0] if i + 1 < len(starts) else period.end
        a, b = np.searchsorted(data.t, lo, "left"), np.searchsorted(data.t, hi, "left")
        b_intervals = [(max(x, lo), min(y, hi)) for x, y in intervals if max(x, lo) < min(y, hi)]
        b_planned = sum(y - x for x, y in b_intervals)
        b_down = downtime(data.t, b_intervals, reports.downtime_gap_s)[0]
        lat = data.latency_ms[a:b]
        buckets.append(Bucket(
            lo, label, int(b - a), int(is_reject[a:b].sum()), _count_in(data.false_reject_t, lo, hi), int(is_failsafe[a:b].sum()),
            _count_in(data.escape_t, lo, hi), _percentile(lat, 50), _percentile(lat, 99),
            None if b_planned <= 0 else max(0.0, 1 - b_down / b_planned),
        ))
    latency = data.latency_ms
    return Figures(
        station=data.name,
        period=period,
        inspected=inspected,
        passed=int(np.isin(result, ("PASS", "FAILSAFE_PASS")).sum()),
        rejected=int(is_reject.sum()),
        model_rejects=int((result == "REJECT").sum()),
        failsafe_rejects=int((result == "FAILSAFE_REJECT").sum()),
        failsafe_passes=int((result == "FAILSAFE_PASS").sum()),
        false_rejects=false_rejects,
        confirmed_defects=int(data.defect_t.size),
        escapes=escapes,
        planned_s=planned,
        downtime_s=down,
        stops=stops,
        latency_p50_ms=_percentile(latency, 50),
        latency_p99_ms=_percentile(latency, 99),
        latency_max_ms=None if np.all(np.isnan(latency)) else float(np.nanmax(latency)),
        plc_confirmed=int((~np.isnan(latency)).sum()),
        models=models,
        alarms=alarms,
        alarm_codes=codes,
        money=_money(reports, period, inspected, false_rejects, escapes),
        buckets=buckets,
    )


def report_figures(databases: list[Path], period: Period, reports: ReportsConfig, now: float | None = None) -> list[Figures]:
    """Figures per station, and with several stations a first entry for all of them together."""
    if not databases:
        raise ReportError("no station database given")
    stations = [load_station(db, period) for db in databases]
    names = [s.name for s in stations]
    for i, name in enumerate(names):
        if names.count(name) > 1:  # two databases of stations with the same name: tell them apart by file
            stations[i].name = f"{name} ({Path(databases[i]).name})"
    figures = [compute(s, period, reports, now) for s in stations]
    if len(stations) > 1:
        total = compute(StationData.combine("all stations", stations), period, reports, now)
        # availability and downtime of a fleet: the stations' own, summed (merged parts would hide one station's stop)
        total = _with_fleet_availability(total, figures)
        figures.insert(0, total)
    return figures


def _with_fleet_availability(total: Figures, stations: list[Figures]) -> Figures:
    import dataclasses

    return dataclasses.replace(
        total,
        planned_s=sum(f.planned_s for f in stations),
        downtime_s=sum(f.downtime_s for f in stations),
        stops=sorted(s for f in stations for s in f.stops),
    )

"""Report periods: a shift on a date, or a month, in the plant's local time.

``--shift 2026-11-03/early`` names a configured shift (its date is the day it
starts: a night shift 22:00-06:00 on the 3rd ends on the 4th);
``--shift 2026-11-03/06:00-14:00`` gives the times directly.
``--month 2026-11`` is the calendar month.

The shift definitions themselves (names, HH:MM times, the plant's time zone) and
their checks are the config's: :mod:`inspector.config.shifts`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from inspector.config.schema import ReportsConfig, ShiftDefinition
from inspector.config.shifts import clock_time, zone
from inspector.errors import ReportError


@dataclass(frozen=True)
class Period:
    kind: str  # "shift" or "month"
    label: str  # "2026-11-03 early", "2026-11"
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    timezone: str

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600

    @property
    def slug(self) -> str:
        """A file-name-safe form of the label."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.label)


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{what}: expected a date YYYY-MM-DD, got {text!r}") from None


def shift_period(day: dt.date, shift: ShiftDefinition, timezone: str) -> Period:
    tz = zone(timezone)
    start_t, end_t = clock_time(shift.start, "shift start"), clock_time(shift.end, "shift end")
    start = dt.datetime.combine(day, start_t, tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1) if end_t <= start_t else day, end_t, tz)
    return Period("shift", f"{day.isoformat()} {shift.name}", start.timestamp(), end.timestamp(), timezone)


def parse_shift(text: str, reports: ReportsConfig) -> Period:
    """``DATE/NAME`` or ``DATE/HH:MM-HH:MM`` as a period."""
    day_text, sep, which = text.partition("/")
    if not sep or not which:
        raise ReportError(f"--shift: expected DATE/SHIFT (for example 2026-11-03/early or 2026-11-03/06:00-14:00), got {text!r}")
    day = _date(day_text, "--shift")
    for shift in reports.shifts:
        if shift.name == which:
            return shift_period(day, shift, reports.timezone)
    if "-" in which and ":" in which:
        start, _, end = which.partition("-")
        clock_time(start, "--shift start"), clock_time(end, "--shift end")
        if start == end:
            raise ReportError(f"--shift: the shift {which} has zero length")
        return shift_period(day, ShiftDefinition(which, start, end), reports.timezone)
    names = ", ".join(s.name for s in reports.shifts) or "none configured"
    raise ReportError(f"--shift: no shift named {which!r} (configured: {names}; or give HH:MM-HH:MM)")


def parse_month(text: str, timezone: str) -> Period:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"--month: expected YYYY-MM (for example 2026-11), got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    tz = zone(timezone)
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return Period("month", text, start.timestamp(), end.timestamp(), timezone)


def shifts_ending_between(t0: float, t1: float, reports: ReportsConfig) -> list[Period]:
    """The configured shifts whose end falls in (t0, t1], in order."""
    tz = zone(reports.timezone)
    first = dt.datetime.fromtimestamp(t0, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(t1, tz).date()
    found = []
    day = first
    while day <= last:
        for shift in reports.shifts:
            period = shift_period(day, shift, reports.timezone)
            if t0 < period.end <= t1:
                found.append(period)
        day += dt.timedelta(days=1)
    return sorted(found, key=lambda p: p.end)


def local_time(t: float, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, zone(timezone))

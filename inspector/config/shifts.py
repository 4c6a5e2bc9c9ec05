"""The plant's shifts and time zone as the station config defines them (the ``reports`` section).

A shift is a name and two local clock times ``HH:MM`` (``reports.shifts``);
an end earlier than the start is a night shift ending the next day. Times are
in the plant's time zone (``reports.timezone``, an IANA name). This module
reads and checks those definitions when a config loads; what a shift on a
given date is (its period) is :mod:`inspector.reports.shifts`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inspector.config.schema import ReportsConfig
from inspector.errors import ConfigError, ReportError

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ReportError(f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin')") from err


def clock_time(text: str, what: str) -> dt.time:
    """``HH:MM`` as a time of day; :class:`ReportError` naming ``what`` otherwise."""
    match = _TIME.match(text)
    if not match:
        raise ReportError(f"{what}: expected a time HH:MM (00:00-23:59), got {text!r}")
    return dt.time(int(match.group(1)), int(match.group(2)))


def normalise_shifts(reports: ReportsConfig) -> ReportsConfig:
    """YAML 1.1 reads an unquoted 14:00 as the number 840 (minutes): turn such numbers back into HH:MM."""
    def hhmm(value: str | int) -> str:
        return f"{value // 60:02d}:{value % 60:02d}" if isinstance(value, int) and 0 <= value < 24 * 60 else str(value)

    shifts = [dataclasses.replace(s, start=hhmm(s.start), end=hhmm(s.end)) for s in reports.shifts]
    return dataclasses.replace(reports, shifts=shifts)


def check_reports_config(reports: ReportsConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad field of the reports section."""
    try:
        zone(reports.timezone)
    except ReportError as err:
        raise ConfigError("reports.timezone", str(err)) from None
    seen: set[str] = set()
    for i, shift in enumerate(reports.shifts):
        if not re.fullmatch(r"[A-Za-z0-9_-]+", shift.name):
            raise ConfigError(f"reports.shifts[{i}].name", f"use letters, digits, '-' and '_' only, got {shift.name!r}")
        if shift.name in seen:
            raise ConfigError(f"reports.shifts[{i}].name", f"duplicate shift name {shift.name!r}")
        seen.add(shift.name)
        for field in ("start", "end"):
            try:
                clock_time(getattr(shift, field), field)
            except ReportError as err:
                raise ConfigError(f"reports.shifts[{i}].{field}", str(err).split(": ", 1)[1]) from None
        if shift.start == shift.end:
            raise ConfigError(f"reports.shifts[{i}].end", "equals its start (a shift of zero length)")
    if reports.at_shift_end and not reports.shifts:
        raise ConfigError("reports.at_shift_end", "needs at least one shift in reports.shifts")
    if not reports.currency.strip():
        raise ConfigError("reports.currency", "must not be empty")

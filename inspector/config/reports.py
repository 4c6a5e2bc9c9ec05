"""The ``reports`` section of the station config: the plant's shifts, time zone, costs and baseline for management reports."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


@dataclass(frozen=True)
class ShiftDefinition:
    name: str = spec(doc="Shift name used in 'inspector report --shift DATE/NAME' (for example 'early').")
    start: str | int = spec(doc="Start time HH:MM, plant local time (reports.timezone); unquoted YAML 14:00 is read as a time too.")
    end: str | int = spec(doc="End time HH:MM; earlier than 'start' means the shift ends the next day (a night shift).")


@dataclass(frozen=True)
class ReportCosts:
    false_reject: float = spec(0.0, doc="Cost of one good part rejected (scrap or re-inspection), in reports.currency.", minimum=0)
    escape: float = spec(0.0, doc="Cost of one defective part that reached the customer (claim, sorting, goodwill).", minimum=0)
    system_per_month: float = spec(0.0, doc="What running the station costs per month (for the return on investment; 0 = not shown).", minimum=0)


@dataclass(frozen=True)
class ReportBaseline:
    label: str = spec("before Inspector", doc="What the baseline is (for example 'manual inspection 2025').")
    false_reject_rate: float = spec(0.0, doc="Share of inspected parts wrongly rejected before (per part, 0..1).", minimum=0, maximum=1)
    escape_rate: float = spec(0.0, doc="Share of inspected parts that escaped as defective before (per part, 0..1).", minimum=0, maximum=1)


def _default_shifts() -> list[ShiftDefinition]:
    return [ShiftDefinition("early", "06:00", "14:00"), ShiftDefinition("late", "14:00", "22:00"), ShiftDefinition("night", "22:00", "06:00")]


@dataclass(frozen=True)
class ReportsConfig:
    folder: str | None = spec(None, doc="Where generated reports and their index go (None = 'reports' beside the recorder database).")
    timezone: str = spec("UTC", doc="The plant's time zone (IANA name, for example 'Europe/Berlin'): shifts and months are local time.")
    shifts: list[ShiftDefinition] = spec(factory=_default_shifts, doc="The plant's shifts.")
    at_shift_end: bool = spec(
        False, doc="'inspector run' writes the shift report when each shift ends (and 'inspector report scheduler' does alone)."
    )
    downtime_gap_s: float = spec(
        120.0, doc="A gap between parts longer than this counts as downtime (availability = planned time minus downtime).", minimum=1
    )
    currency: str = spec("EUR", doc="Currency of the costs, shown in the reports.")
    costs: ReportCosts = spec(factory=ReportCosts, doc="What a false reject and an escape cost.")
    baseline: ReportBaseline = spec(factory=ReportBaseline, doc="The plant's figures before Inspector, the savings are measured against.")

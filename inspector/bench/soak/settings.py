"""What a soak run does: its length, part rate, fault schedule and limits; durations and sizes as people write them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from inspector.errors import InspectorError

# the services a kill or a stop goes through, in turn (names as the soak knows them; see station.TARGETS)
TARGETS = ("camera", "detector", "actuator", "recorder", "publisher", "opcua", "plc", "hmi")
SINGLE_FAULTS = ("broker", "plc_hang", "opcua_restart", "disk", "wrap", "refused_tag")
FAULT_GROUPS = ("kill", "stop", *SINGLE_FAULTS)

_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_UNITS_B = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``2h``, ``1h30m`` -> seconds."""
    total, rest = 0.0, text.strip().lower()
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(h|min|m|s|)", rest):
        total += float(number) * _UNITS_S[unit]
    if not rest or re.sub(r"(\d+(?:\.\d+)?)\s*(h|min|m|s|)", "", rest).strip():
        raise InspectorError(f"duration {text!r}: write it like 90s, 5m, 2h or 1h30m")
    return total


def parse_size(text: str) -> int:
    """``512MiB``, ``6GiB``, ``6G``, ``1000000`` -> bytes."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not found or found.group(2) not in _UNITS_B:
        raise InspectorError(f"size {text!r}: write it like 512MiB or 6GiB")
    return int(float(found.group(1)) * _UNITS_B[found.group(2)])


def expand_faults(names: list[str]) -> list[str]:
    """The fault list as given (``kill``, ``stop``, ``kill:recorder``, ``broker``, ...) as one cycle of single faults.

    ``kill`` and ``stop`` stand for every target in turn; the groups are interleaved (one of each in turn) so the
    same service is never hit twice in a row and every kind of fault comes early in a short run."""
    groups: list[list[str]] = []
    for name in names:
        kind, _, target = name.partition(":")
        if kind in ("kill", "stop"):
            if target and target not in TARGETS:
                raise InspectorError(f"fault {name!r}: the target must be one of {', '.join(TARGETS)}")
            groups.append([f"{kind}:{t}" for t in ((target,) if target else TARGETS)])
        elif kind in SINGLE_FAULTS and not target:
            groups.append([kind])
        else:
            raise InspectorError(f"fault {name!r}: known faults are {', '.join(FAULT_GROUPS)} (kill:TARGET, stop:TARGET too)")
    cycle: list[str] = []
    while any(groups):
        for group in groups:
            if group:
                cycle.append(group.pop(0))
    return cycle


@dataclass
class SoakSettings:
    duration_s: float = 7200.0
    rate_hz: float = 16.0
    out: Path = Path("benchmarks/results/soak.md")
    faults: list[str] = field(default_factory=lambda: expand_faults(list(FAULT_GROUPS)))
    fault_every_s: float = 60.0  # one fault per slot; what is left of the slot after it is its recovery window
    fault_for_s: float = 20.0  # how long a lasting fault lasts (broker away: the publisher alarms after 10 s; disk, refused tag)
    stop_for_s: float = 3.0  # SIGSTOP ... SIGCONT
    plc_hang_s: float = 5.0
    warmup_s: float = 300.0  # no faults; RSS and log size are taken at its end
    final_recovery_s: float = 60.0  # after the last fault, before the standing alarms are read
    back_within_s: float = 90.0  # a killed process not back within this is a finding, and the soak goes on
    width: int = 320
    height: int = 240
    defect_rate: float = 0.3
    plc: str = "external"  # external: the soak runs the PLC simulator (as a plant's PLC); supervised: 'inspector run' does
    config: Path | None = None  # the base station config (default: the shipped one)
    workdir: Path | None = None  # default: a temporary folder, removed afterwards unless keep_workdir
    keep_workdir: bool = False
    scrape_every_s: float = 5.0
    sample_every_s: float = 30.0  # RSS, the HMI's window
    screenshot_every_s: float = 600.0
    disk_warn_margin: int = 6 * 1024**3  # the recorder's warning threshold: this much below the free space at start
    disk_crit_margin: int = 8 * 1024**3
    clear_limit_s: float = 2.0
    rss_growth_limit: float = 0.10
    rss_min_span_s: float = 600.0  # an instance watched less than this after its warm-up is not judged
    log_limit: int = 100 * 1024**2  # the log folder at the end
    log_month_limit: int = 1024**3  # its growth after warm-up, carried on for 30 days
    mqtt_drain_s: float = 60.0
    hmi_restart_after_s: float = 5.0  # an HMI nobody restarts is restarted by the soak after this (and counted)

    def check(self) -> None:
        if self.plc not in ("external", "supervised"):
            raise InspectorError(f"--plc {self.plc!r}: external or supervised")
        if self.fault_every_s < self.fault_for_s + 5:
            raise InspectorError("--fault-every must leave at least 5 s of recovery after --fault-for")
        if self.disk_crit_margin <= self.disk_warn_margin:
            raise InspectorError("the critical disk margin must be larger than the warning margin")

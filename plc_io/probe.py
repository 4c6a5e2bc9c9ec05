"""``inspector plc probe``: can this station talk to its PLC, as configured?

Reports the controller's identity, checks that every configured tag exists
with its configured type, and measures the round-trip time of a write. Only
the heartbeat tag is written (a PLC acts on result tags; a probe must not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspector.config.schema import PlcConfig, PlcTag
from inspector.errors import PlcError
from plc_io.logix import close_quietly, controller_tag_problems, open_driver, refused


@dataclass(frozen=True)
class TagCheck:
    name: str
    configured_type: str
    problem: str = ""


@dataclass
class ProbeReport:
    address: str
    identity: dict[str, Any] = field(default_factory=dict)
    tags: list[TagCheck] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(not t.problem for t in self.tags)

    def lines(self) -> list[str]:
        ident = self.identity
        out = [
            f"PLC at {self.address}: {ident.get('product_name', '?')} ({ident.get('vendor', '?')}), "
            f"firmware {ident.get('revision', {}).get('major', '?')}.{ident.get('revision', {}).get('minor', '?')}, "
            f"serial {ident.get('serial', '?')}, keyswitch {ident.get('keyswitch', '?')}"
        ]
        for tag in self.tags:
            out.append(f"  tag {tag.name} ({tag.configured_type}): {'ok' if not tag.problem else tag.problem}")
        if self.write_ms:
            arr = np.asarray(self.write_ms)
            out.append(
                f"  write round trip over {len(arr)} writes: p50 {np.percentile(arr, 50):.2f} ms, "
                f"p99 {np.percentile(arr, 99):.2f} ms, max {arr.max():.2f} ms"
            )
        if self.note:
            out.append(f"  {self.note}")
        out.append("result: OK" if self.ok else "result: PROBLEMS FOUND")
        return out


def probe(config: PlcConfig, writes: int = 50) -> ProbeReport:
    report = ProbeReport(config.address)
    driver = open_driver(config, check_tags=False)  # the probe reports every bad tag, not the first
    try:
        report.identity = dict(driver.info)
        if config.tag_types == "upload":
            problems = _uploaded_tag_problems(driver.tags, config.tags.all())
        else:
            problems = controller_tag_problems(driver, config.tags.all())
    finally:
        close_quietly(driver)  # some servers drop a session after refusing a tag
    report.tags = [TagCheck(t.name, t.type, problems.get(t.name, "")) for t in config.tags.all()]
    heartbeat = config.tags.heartbeat
    if heartbeat is None:
        report.note = "no heartbeat tag configured: write latency not measured (the probe never writes result tags)"
    elif heartbeat.name not in problems:
        driver = open_driver(config, check_tags=False)
        try:
            report.write_ms = _time_writes(driver, heartbeat.name, writes)
        finally:
            close_quietly(driver)
    return report


def _uploaded_tag_problems(uploaded: dict, tags: list[PlcTag]) -> dict[str, str]:
    problems = {}
    for tag in tags:
        info = uploaded.get(tag.name)
        if info is None:
            problems[tag.name] = "missing on the controller"
        elif info.get("data_type_name") != tag.type:
            problems[tag.name] = f"controller type is {info.get('data_type_name')}, config says {tag.type}"
    return problems


def _time_writes(driver: Any, name: str, count: int) -> list[float]:
    """Round trips of a write shaped like a decision write: three tag writes in one multi-service request.

    All three write the heartbeat tag, with its next value: the only tag the
    probe may change on a live line.
    """
    value = driver.read(name).value or 0
    times = []
    for _ in range(count):
        value = 1 if value >= 2**31 - 1 else value + 1
        t0 = time.perf_counter()
        replies = driver.write(*[(name, value)] * 3)
        times.append((time.perf_counter() - t0) * 1000)
        problem = refused(replies)
        if problem:
            raise PlcError(f"PLC refused {problem}")
    return times

"""``inspector plc probe``: can this station talk to its PLC, as configured, tag by tag?

Reports the controller's identity, then for every configured tag: is it on
the controller with its configured type, and does the PLC take a write of it
alone (one Write Tag request) and together with the others (one Multiple
Service Packet, the shape of a decision write)? Each written tag is read,
written back with **the value it holds**, and read back: the probe changes no
value, so the PLC, whose logic latches a result when the sequence tag
changes, latches nothing new. The acknowledge tag is only read. Finally it
times decision-shaped writes (part id, result, sequence, their current values
again).

A running actuator writes these tags too, and a value read just before it
writes could be written back over its new one. So the probe first watches the
sequence and heartbeat tags for a moment: if they change, Inspector is
running, and the probe only reads. Stop the actuator (``inspector run`` or the
service) to test the writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from inspector.config.schema import PlcConfig
from inspector.errors import PlcError, PlcTagRefused
from plc_io.logix import LogixConnection


@dataclass(frozen=True)
class TagCheck:
    name: str
    configured_type: str
    key: str = ""  # part_id, result, sequence, heartbeat, ...
    problem: str = ""
    detail: str = ""  # what was done with it, when it is fine


@dataclass
class ProbeReport:
    address: str
    identity: dict[str, Any] = field(default_factory=dict)
    tags: list[TagCheck] = field(default_factory=list)
    together: str = ""  # the problem of the write of every written tag in one request ('' = fine or not tried)
    together_tags: int = 0  # how many tags that write carried (0: not tried)
    write_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[str]:
        return [t.name for t in self.tags if t.problem]

    @property
    def ok(self) -> bool:
        return not self.refused and not self.together

    def lines(self) -> list[str]:
        ident = self.identity
        out = [
            f"PLC at {self.address}: {ident.get('product_name', '?')} ({ident.get('vendor', '?')}), "
            f"firmware {ident.get('revision', {}).get('major', '?')}.{ident.get('revision', {}).get('minor', '?')}, "
            f"serial {ident.get('serial', '?')}, keyswitch {ident.get('keyswitch', '?')}"
        ]
        for tag in self.tags:
            state = f"REFUSED: {tag.problem}" if tag.problem else f"ok ({tag.detail})" if tag.detail else "ok"
            out.append(f"  tag {tag.name} ({tag.configured_type}, {tag.key}): {state}")
        if self.together:
            out.append(f"  every written tag in one request: REFUSED: {self.together}")
        elif self.together_tags:
            out.append(f"  every written tag in one request ({self.together_tags} tags, their own values): ok, read back the same")
        if self.write_ms:
            arr = np.asarray(self.write_ms)
            out.append(
                f"  write round trip over {len(arr)} decision-shaped writes: p50 {np.percentile(arr, 50):.2f} ms, "
                f"p99 {np.percentile(arr, 99):.2f} ms, max {arr.max():.2f} ms"
            )
        out += [f"  {note}" for note in self.notes]
        out.append("result: OK" if self.ok else f"result: PROBLEMS FOUND (refused: {', '.join(self.refused) or 'see above'})")
        return out


def probe(config: PlcConfig, writes: int = 50) -> ProbeReport:
    report = ProbeReport(config.address)
    conn = LogixConnection(config, require_results=False)  # the probe reports every bad tag, not the first
    try:
        report.identity = conn.identity()
        problems = dict(conn.tag_problems)
        tags = {**{t.name: t for t in config.tags.results()}, **{t.name: t for t in config.tags.auxiliary().values()}}
        keys = _keys(config)
        running = _inspector_running(conn, config, problems)
        if running:
            report.notes.append(f"Inspector is writing these tags now ({running}): tags only read; stop the actuator to test writes")
        written = {t.name for t in config.tags.written()}
        for name, tag in tags.items():
            if name in problems:
                report.tags.append(TagCheck(name, tag.type, keys[name], problems[name]))
                continue
            problem, detail = _check_alone(conn, name, write=name in written and not running)
            report.tags.append(TagCheck(name, tag.type, keys[name], problem, detail))
        if not running:
            together = [n for n in tags if n in written and n not in problems]
            report.together, report.together_tags = _check_together(conn, together), len(together)
            results = [t.name for t in config.tags.results()]
            if any(t.problem for t in report.tags if t.name in results):
                report.notes.append("decision-shaped writes not timed: a result tag is refused")
            elif writes > 0:
                report.write_ms = _time_writes(conn, results, writes)
    finally:
        conn.close()
    return report


def _keys(config: PlcConfig) -> dict[str, str]:
    tags = config.tags
    keys = {tags.part_id.name: "part_id", tags.result.name: "result", tags.sequence.name: "sequence"}
    return {**keys, **{tag.name: key for key, tag in tags.auxiliary().items()}}


def _inspector_running(conn: LogixConnection, config: PlcConfig, problems: dict[str, str]) -> str:
    """'' unless the sequence or heartbeat tag changes while watched (then: which); a bounded wait (about 1 s)."""
    watched = [t.name for t in (config.tags.sequence, config.tags.heartbeat) if t is not None and t.name not in problems]
    if not watched:
        return ""
    try:
        before = conn.read(*watched)
        time.sleep(max(1.0, 2.5 * config.heartbeat_period_s))
        after = conn.read(*watched)
    except PlcError:
        return ""  # the tag checks below say what is wrong
    return ", ".join(f"{name} {before[name]} -> {after[name]}" for name in watched if before[name] != after[name])


def _attempt(action: Callable[[], Any]) -> tuple[str, Any]:
    """('', result) or (what the PLC said / why the request failed, None)."""
    try:
        return "", action()
    except PlcTagRefused as err:
        return "; ".join(err.refused.values()) or str(err), None
    except PlcError as err:
        return f"request failed: {err}", None


def _check_alone(conn: LogixConnection, name: str, write: bool) -> tuple[str, str]:
    """Read the tag; if ``write``, write its value back alone and read it again. Returns (problem, detail)."""
    problem, held = _attempt(lambda: conn.read(name)[name])
    if problem:
        return f"read refused: {problem}", ""
    if not write:
        return "", f"read {held}"
    problem, _ = _attempt(lambda: conn.write((name, held)))
    if problem:
        return f"write of its own value {held} alone refused: {problem}", ""
    problem, again = _attempt(lambda: conn.read(name)[name])
    if problem or again != held:
        return f"read back after writing {held} gave {again!r} {problem}".strip(), ""
    return "", f"read {held}, wrote it back alone, read back {again}"


def _check_together(conn: LogixConnection, names: list[str]) -> str:
    """Write every written tag's current value in one request and read them back; '' if the PLC took them all."""
    if not names:
        return ""
    problem, held = _attempt(lambda: conn.read(*names))
    if problem:
        return f"reading them together: {problem}"
    try:
        conn.write(*[(name, held[name]) for name in names])
    except PlcTagRefused as err:
        return "; ".join(f"tag {tag}: {said}" for tag, said in err.refused.items())
    except PlcError as err:
        return f"request failed: {err}"
    problem, again = _attempt(lambda: conn.read(*names))
    changed = [name for name in names if again is not None and again[name] != held[name]]
    return problem or ", ".join(f"{name} read back {again[name]}, wrote {held[name]}" for name in changed)


def _time_writes(conn: LogixConnection, names: list[str], count: int) -> list[float]:
    """Round trips of writes shaped like a decision write: the result tags in one request, their current values."""
    held = conn.read(*names)
    values = [(name, held[name]) for name in names]
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn.write(*values)
        times.append((time.perf_counter() - t0) * 1000)
    return times

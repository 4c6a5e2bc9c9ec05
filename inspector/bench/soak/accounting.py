"""What the soak's windows saw: every part and every alarm, from the line's own records, read after the run.

Parts (by trigger time, into the window it fell in):

- **seen**: every part in the actuator's journal, plus part-seen events that never reached it (gaps in the
  camera's part-seen sequence), plus a part whose id was used again (the journal holds the first part's
  trigger and the later part's decision under one id: both are counted);
- **decided**: a final decision in the journal; **recorded**: the recorder's row for that id carries this
  part's trigger time (a row that belongs to another part with the same id does not count). A part decided
  without its part-seen event (source ``seen_lost``) carries the next part's trigger time in the journal: its
  record's (the detector's) is taken when it is the same part's;
- **delivered**: the recorder's row says the PLC confirmed it; **lost**: seen without its recorded decision.

Alarms: per (source, code), a condition's raise (active 1) until its clear (active 0). A condition raised in a
fault's window is timed from the cause's end to its clear. Events (one-shot, see the catalogue) are counted.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from inspector.actuator.journal import FINAL_OUTCOMES, journal_counts, journal_entries, journaled_between
from inspector.config.schema import Config
from inspector.records.alarms import alarm_history as recorded_alarms
from inspector.records.alarms import alarm_row_counts
from inspector.messages import TRIGGER_TIME_UNKNOWN
from inspector.records.parts import DecidedPart, decided_between, decided_counts, decided_parts

MATCH_S = 1e-3  # two trigger times this close are the same part
LOST_SPAN_S = 60.0  # a part whose part-seen event was lost was triggered at most this long before the next part


@dataclass
class Window:
    name: str
    what: str
    t_start: float
    t_end: float
    t_cause_end: float | None = None  # None: no fault (warm-up, final recovery), or its end is unknown
    fault: bool = False
    detail: list[str] = field(default_factory=list)
    skipped: str = ""
    error: str = ""
    expected_alarm: str | None = None  # the condition this fault must raise


class WindowIndex:
    def __init__(self, windows: list[Window]) -> None:
        self.windows = windows
        self.starts = [w.t_start for w in windows]

    def index(self, t: float) -> int | None:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return None
        return i if t < self.windows[i].t_end or i == len(self.windows) - 1 else None


# -- parts -------------------------------------------------------------------------------------------------------


@dataclass
class PartCounts:
    seen: int = 0
    decided: int = 0
    recorded: int = 0
    delivered: int = 0
    failsafe: int = 0
    lost: int = 0
    lost_undecided: int = 0  # journaled as seen, never decided
    lost_unrecorded: int = 0  # decided, but the recorder has no row of it (or one of another part with its id)
    id_reused: int = 0
    seen_gaps: int = 0
    min_id: int | None = None
    max_id: int | None = None
    mqtt: int = 0
    opcua: int = 0
    lost_examples: list[str] = field(default_factory=list)

    def ids(self, part_id: int) -> None:
        self.min_id = part_id if self.min_id is None else min(self.min_id, part_id)
        self.max_id = part_id if self.max_id is None else max(self.max_id, part_id)


@dataclass(frozen=True)
class CameraRun:
    t_start: float  # when the camera process started
    triggered: int | None = None  # its 'triggered' counter at the last scrape (None: never scraped)


def missing_part_seen(events: list[tuple[float, int]], runs: list[CameraRun] | None, rate_hz: float) -> list[float]:
    """Estimated trigger times of the parts a camera numbered that never reached the actuator's journal.

    ``events``: (trigger time, part-seen number) the journal has, in time order. A camera numbers its parts 1, 2, ...
    from each start, so a number missing in a run is a part the line lost (a part-seen event lost on the way, or a
    part the actuator ignored, as a repeated id is); parts after the last journaled one count up to the run's own
    counter. Its time is interpolated between its neighbours."""
    if runs:
        starts = [r.t_start for r in runs]
        groups: list[list[tuple[float, int]]] = [[] for _ in runs]
        for t, seq in events:
            groups[max(0, bisect.bisect_right(starts, t) - 1)].append((t, seq))
    else:  # runs told apart by the numbering starting again
        groups, runs = [], []
        for t, seq in events:
            if not groups or seq <= groups[-1][-1][1]:
                groups.append([])
                runs.append(CameraRun(t))
            groups[-1].append((t, seq))
    out: list[float] = []
    for run, points in zip(runs, groups):
        if not points:
            continue
        first_t, first_seq = points[0]
        # numbering from 1 at the run's start; a camera that numbers on from an earlier run is taken from its first number
        base = 0 if first_seq <= rate_hz * max(0.0, first_t - run.t_start) * 2 + 50 else first_seq - 1
        anchors = [(run.t_start, base)] + points
        last_t, last_seq = points[-1]
        present = {seq for _, seq in points}
        for seq in range(base + 1, max(last_seq, int(run.triggered or 0)) + 1):
            if seq in present:
                continue
            if seq > last_seq:
                out.append(last_t + (seq - last_seq) / max(rate_hz, 0.1))
                continue
            k = bisect.bisect_left(anchors, seq, key=lambda a: a[1])
            (t0, s0), (t1, s1) = anchors[k - 1], anchors[k]
            out.append(t0 + (t1 - t0) * (seq - s0) / (s1 - s0))
    return out


def part_accounting(config: Config, windows: list[Window], mqtt_parts: list[tuple[str, int, float]],
                    opcua_events: list[tuple[str, int]], cameras: dict[str, list[CameraRun]] | None = None,
                    rate_hz: float = 10.0) -> tuple[list[PartCounts], dict[str, Any]]:
    """Per window, and overall notes (ids reused, rows without a journal entry, MQTT duplicates).

    ``cameras``: each camera's runs (process starts) with what its ``triggered`` counter said last; without them
    a camera's runs are told apart by its part-seen number starting again."""
    recorded = {(r.camera, r.part_id): r for r in decided_parts(config.recorder.database)}
    seen_rows = journal_entries(config.station.state_dir)
    index = WindowIndex(windows)
    counts = [PartCounts() for _ in windows]
    mqtt = Counter((c, p, round(t, 3)) for c, p, t in mqtt_parts)
    opcua = Counter(opcua_events)
    seqs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    unsequenced = Counter()  # per window: parts of a reused id, whose part-seen number the journal did not keep
    outside = 0

    def count(camera: str, part_id: int, t: float, decided: bool | None, seq: int | None, reused: bool) -> None:
        """One part; ``decided`` None: as its record says (a reused id's first part: its journaled decision was replaced);
        ``reused``: the part came with an id an earlier part had."""
        nonlocal outside
        if seq is not None:
            seqs[camera].append((t, seq))
        i = index.index(t)
        if i is None:
            outside += 1
            return
        unsequenced[i] += seq is None and reused
        c = counts[i]
        row = recorded.get((camera, part_id))
        matched = row is not None and abs(row[2] - t) < MATCH_S
        c.seen += 1
        c.decided += matched if decided is None else decided
        c.id_reused += reused
        c.ids(part_id)
        if matched:
            c.recorded += 1
            c.delivered += bool(row[4])
            c.failsafe += row[3].startswith("FAILSAFE")
            c.mqtt += (camera, part_id, round(t, 3)) in mqtt
            c.opcua += (camera, part_id) in opcua
        else:
            c.lost += 1
            c.lost_unrecorded += bool(decided)
            c.lost_undecided += not decided
            if len(c.lost_examples) < 10:
                c.lost_examples.append(f"{camera}:{part_id}" + (" (id reused)" if reused else ""))

    journal_keys = set()
    for camera, part_id, seen_seq, t_trigger, outcome, t_decided_part, source in seen_rows:
        journal_keys.add((camera, part_id))
        if source == TRIGGER_TIME_UNKNOWN:  # the journal holds the next part's time; the record, the part's own
            t_trigger = t_decided_part = _recorded_time(recorded.get((camera, part_id)), t_trigger)
        final = outcome in FINAL_OUTCOMES
        if t_decided_part is not None and abs(t_decided_part - t_trigger) >= MATCH_S:
            # the id came twice: the row keeps the first part's trigger and the later part's decision
            count(camera, part_id, t_trigger, None, seen_seq, False)
            count(camera, part_id, t_decided_part, final, None, True)
        else:
            count(camera, part_id, t_trigger, final, seen_seq, False)
    missing = Counter()
    for camera, events in seqs.items():
        for t in missing_part_seen(sorted(events), (cameras or {}).get(camera), rate_hz):
            if (i := index.index(t)) is not None:
                missing[i] += 1
            else:
                outside += 1
    for i, n in missing.items():
        n -= min(n, unsequenced[i])  # a reused id's later part is missing from the journal's numbers: counted already
        counts[i].seen_gaps += n
        counts[i].seen += n
        counts[i].lost += n
    notes = {
        "recorded_without_journal_entry": sum(1 for k in recorded if k not in journal_keys),
        "parts_outside_windows": outside,
        "mqtt_part_messages": len(mqtt_parts), "mqtt_duplicates": len(mqtt_parts) - len(mqtt),
        "opcua_events": len(opcua_events), "opcua_duplicates": len(opcua_events) - len(opcua),
    }
    return counts, notes


def _recorded_time(row: DecidedPart | None, upper_bound: float) -> float:
    """A part decided without its part-seen event (its trigger time an upper bound): the trigger time its record
    holds (the detector's, or the trigger journal's), when that is the same part's: earlier, by less than LOST_SPAN_S."""
    if row is not None and 0 <= upper_bound - row.t_trigger < LOST_SPAN_S:
        return row.t_trigger
    return upper_bound


# -- alarms ------------------------------------------------------------------------------------------------------


def alarm_kind(code: str, recorded_kind: str | None = None) -> str:
    if recorded_kind in ("condition", "event"):
        return recorded_kind
    try:
        from inspector.alarms.catalogue import definition

        return definition(code).kind
    except (ImportError, KeyError):
        return "condition"  # not in the catalogue: judged as a standing alarm, the stricter reading


@dataclass
class Episode:
    source: str
    code: str
    severity: str
    t_raised: float
    t_cleared: float | None
    text: str
    catalogue_event: bool = False  # recorded as a condition, but the catalogue lists the code as an event


def alarm_history(config: Config) -> tuple[list[Episode], list[tuple[float, str, str]]]:
    """Conditions as raise..clear episodes, and events as (t, source, code)."""
    rows = recorded_alarms(config.recorder.database)
    episodes: list[Episode] = []
    events: list[tuple[float, str, str]] = []
    open_: dict[tuple[str, str], Episode] = {}
    for _id, t, source, code, severity, active, text, kind in rows:
        if alarm_kind(code, kind) == "event":  # one row per occurrence, whatever its 'active' says
            events.append((t, source, code))
            continue
        key = (source, code)
        if active and key not in open_:
            open_[key] = Episode(source, code, severity, t, None, (text or "")[:200], alarm_kind(code) == "event")
            episodes.append(open_[key])
        elif not active and key in open_:
            open_.pop(key).t_cleared = t
    return episodes, events


def alarms_by_window(episodes: list[Episode], events: list[tuple[float, str, str]], windows: list[Window],
                     clear_limit_s: float, t_measure_end: float) -> list[dict[str, Any]]:
    index = WindowIndex(windows)
    out: list[dict[str, Any]] = [{"raised": [], "events": Counter()} for _ in windows]
    for e in episodes:
        i = index.index(e.t_raised)
        if i is None:
            continue
        w = windows[i]
        cleared = e.t_cleared is not None and e.t_cleared <= t_measure_end
        delay = None
        if cleared and w.t_cause_end is not None:
            delay = round(max(0.0, e.t_cleared - w.t_cause_end), 2)
        if not w.fault:
            verdict = "cleared" if cleared else "not cleared"
            ok = cleared
        elif w.t_cause_end is None:
            verdict, ok = "the fault's end is unknown", False
        else:
            ok = cleared and delay <= clear_limit_s
            verdict = f"cleared {delay:g} s after the cause ended" if cleared else "not cleared"
        if e.catalogue_event:
            verdict += " (sent as a standing condition; the catalogue lists it as an event)"
        out[i]["raised"].append({"source": e.source, "code": e.code, "severity": e.severity, "t_raised": e.t_raised,
                                 "t_cleared": e.t_cleared, "clear_after_cause_s": delay, "ok": ok, "verdict": verdict,
                                 "text": e.text})
    for t, source, code in events:
        i = index.index(t)
        if i is not None:
            out[i]["events"][f"{code} ({source})"] += 1
    return out


def standing_at(episodes: list[Episode], t: float) -> list[dict[str, Any]]:
    """Conditions active at ``t``."""
    return [{"source": e.source, "code": e.code, "severity": e.severity, "since": e.t_raised, "text": e.text}
            for e in episodes if e.t_raised <= t and (e.t_cleared is None or e.t_cleared > t)]


# -- what the line's records said at one moment (for the metrics comparison) ------------------------------------


def record_counts(config: Config) -> dict[str, int]:
    return {**decided_counts(config.recorder.database), **alarm_row_counts(config.recorder.database),
            **journal_counts(config.station.state_dir)}


def journaled_parts(config: Config, t_from: float, t_to: float) -> int:
    """Parts the actuator journaled as seen, triggered in [t_from, t_to) (the progress line's figure)."""
    return journaled_between(config.station.state_dir, t_from, t_to)


def recent_parts(config: Config, t_from: float, t_to: float) -> tuple[int, int]:
    """(recorded, fail-safe) parts triggered in [t_from, t_to): the progress line's figures."""
    return decided_between(config.recorder.database, t_from, t_to)

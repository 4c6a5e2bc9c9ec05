"""Alarms in plain language for the operator: one sentence per alarm kind, in one table.

The line's alarms carry a code (``failsafe_decision``, ``service_down``, ...)
and an engineer's text. The operator's banner says what happened in words,
with the part when there is one, and how many more alarms wait behind it:
"Fail-safe reject: part 296 got no verdict in time (and 28 more)". A code
missing from the table falls back to its own text, never to a raw code alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from inspector.records.alarms import AlarmRecord


def _failsafe(alarm: AlarmRecord) -> str:
    outcome = "pass" if "FAILSAFE_PASS" in alarm.text else "reject"
    why = re.search(r"\((.*)\)\s*$", alarm.text)
    reason = why.group(1) if why else ""
    what = "got no verdict in time" if not reason or "within the budget" in reason else f"got no verdict ({reason})"
    return f"Fail-safe {outcome}: part {alarm.part_id if alarm.part_id is not None else '?'} {what}"


def _part(alarm: AlarmRecord) -> str:
    return f"part {alarm.part_id}" if alarm.part_id is not None else "a part"


#: alarm code -> the operator's sentence (a template over ``part``, ``source`` and ``text``, or a function)
ALARM_SENTENCES: dict[str, str | Callable[[AlarmRecord], str]] = {
    "failsafe_decision": _failsafe,
    "line_stop_requested": "Line stop requested: {part} got a fail-safe decision",
    "service_down": "Service {source} stopped and is being restarted: {text}",
    "plc_connection_lost": "PLC not reachable: decisions cannot be written ({text})",
    "plc_write_late": "PLC written late for {part}: the reject gate may have missed it",
    "decision_past_gate": "Parts passed the reject gate before their decision; recorded fail-safe, not sent to the PLC: {text}",
    "plc_ack_timeout": "The PLC did not acknowledge {part}",
    "plc_write_interrupted": "A PLC write was interrupted: check {part} at the reject gate",
    "part_seen_lost": "Parts passed without a decision: {text}",
    "part_seen_jumped": "A camera's part count jumped (no part lost): {text}",
    "part_id_reused": "A part id came twice (part counter set back?): {text}",
    "parts_undecided_at_restart": "Parts were left without a decision at a restart: {text}",
    "decisions_recovered": "Decisions recovered after a restart: {text}",
    "camera_lost": "Camera lost: {text}",
    "image_gate": "Camera image unusable: {text}",
    "image_refused": "A part's image was refused, the part is failed safe: {text}",
    "image_store_failed": "Part images are not being stored: {text}",
    "journal_write_failed": "Decisions cannot be journaled: {text}",
    "trigger_journal_failed": "The camera's triggers cannot be journaled: {text}",
    "database_corrupt": "The inspection database is damaged: {text}",
    "model_refused": "No trusted model could be loaded: {text}",
    "model_swapped": "The line changed its model between parts: {text}",
    "model_rollback": "A new model was taken back, the previous one decides again: {text}",
    "model_pointer": "The production model record was refused: {text}",
    "model_shadow": "A trial run of a new model stopped: {text}",
    "shadow_report": "A trial run of a new model finished: {text}",
    "mqtt_broker_unreachable": "Results are not reaching the plant's network (MQTT broker away); they are kept and sent later: {text}",
    "mqtt_outbox_full": "The store of results waiting for the plant's network is full; newer ones wait in the database: {text}",
    "plc_tag_refused": "The PLC refuses a status tag (results still go through): {text}",
    "message_refused": "A message on the line was refused: {text}",
    "disk_space_low": "Disk space is running low; old images are being removed: {text}",
    "disk_space_critical": "Disk almost full: images are no longer stored, records still are: {text}",
    "decision_refused": "A second decision for a part was refused, the first is kept: {text}",
    "record_write_failed": "Part records cannot be written now; they are kept and written when possible: {text}",
}
#: families of codes (``image_health.focus``): the sentence of their prefix
ALARM_PREFIXES = {
    "image_health.": "Camera image check out of limits: {text}",
    "drift_": "Parts or images differ from what the model learned: {text}",
}


def alarm_sentence(alarm: AlarmRecord) -> str:
    """The operator's sentence for one alarm (a condition that has cleared says so, in its owner's words)."""
    if alarm.kind == "condition" and not alarm.active:
        return f"Back to normal ({alarm.source}): {alarm.text}"
    entry = ALARM_SENTENCES.get(alarm.code) or next(
        (sentence for prefix, sentence in ALARM_PREFIXES.items() if alarm.code.startswith(prefix)), None
    )
    if entry is None:
        return f"Alarm from {alarm.source}: {alarm.text}"
    if callable(entry):
        return entry(alarm)
    return entry.format(part=_part(alarm), source=alarm.source, text=alarm.text)


def banner_text(latest: AlarmRecord, count: int) -> str:
    """The banner: the newest alarm's sentence and how many more wait to be acknowledged."""
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"⚠ {alarm_sentence(latest)}{more}"

"""Every alarm the station raises, in one table: its kind, its severity, who owns it, what it means.

A **condition** has one owner that raises it while its cause lasts and
clears it when the cause ends (the PLC is reachable again, the service is
back, the disk has room). An **event** is a one-shot occurrence (a fail-safe
decision, a late PLC write, decisions recovered after a crash): recorded, and
shown to the operator until acknowledged, never a standing alarm. ``info``
events are recorded only (the history, MQTT), not annunciated.

Codes that come in families (``image_health.focus``, ``drift_brightness``)
are listed by their prefix. A code missing here is a programming error
(:func:`definition` raises), caught by the test that walks every caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.messages import AlarmKind, AlarmSeverity


@dataclass(frozen=True)
class AlarmDefinition:
    code: str
    kind: AlarmKind
    severity: AlarmSeverity
    owner: str  # the service kind that raises (and, for a condition, clears) it
    means: str  # what it means for the line, for the docs and the integrator


_DEFINITIONS = (
    # the supervisor: processes of the station
    AlarmDefinition("service_down", "condition", "critical", "supervisor",
                    "A process of the station exited or fell silent and is being restarted; cleared when it is back "
                    "(heartbeat, or listening for processes without heartbeats)."),
    # the actuator: decisions and the PLC
    AlarmDefinition("plc_connection_lost", "condition", "critical", "actuator",
                    "Decisions cannot be written to the PLC; cleared at the first write the PLC takes again."),
    AlarmDefinition("plc_tag_refused", "condition", "warning", "actuator",
                    "An auxiliary PLC tag (heartbeat, fault code, alarm count, inspections, acknowledge) is refused; "
                    "results are still delivered. Cleared when the tag is written again."),
    AlarmDefinition("journal_write_failed", "condition", "critical", "actuator",
                    "Decisions are not journaled, a crash may lose them; cleared when the journal is written again."),
    AlarmDefinition("line_stop_requested", "condition", "critical", "actuator",
                    "The fault code asks the PLC to stop the line after a fail-safe decision; cleared when the fault "
                    "hold ends."),
    AlarmDefinition("failsafe_decision", "event", "warning", "actuator",
                    "A part got the fail-safe decision (no verdict in time, or the detector could not decide)."),
    AlarmDefinition("plc_write_late", "event", "warning", "actuator",
                    "The PLC confirmed a result after the part's budget, or latched a write that got no answer (its "
                    "result tags, read back at the reconnect, hold it): the reject gate may have missed it."),
    AlarmDefinition("decision_past_gate", "event", "critical", "actuator",
                    "Decisions reached the PLC writer after their parts had passed the reject gate (after an outage "
                    "or a restart): recorded fail-safe with the reason, not written to the PLC."),
    AlarmDefinition("plc_ack_timeout", "event", "warning", "actuator",
                    "The PLC did not acknowledge a result sequence in time."),
    AlarmDefinition("plc_write_interrupted", "event", "critical", "actuator",
                    "The actuator stopped during a PLC write: whether the PLC took it is unknown."),
    AlarmDefinition("parts_undecided_at_restart", "event", "critical", "actuator",
                    "Parts were seen but not decided when the actuator stopped: recorded fail-safe, check them by hand."),
    AlarmDefinition("part_seen_lost", "event", "critical", "actuator",
                    "Part-seen events never reached the actuator: those parts got no decision from Inspector."),
    AlarmDefinition("part_seen_jumped", "event", "warning", "actuator",
                    "A camera's part-seen sequence jumped over parts its trigger journal never held (a sequence set "
                    "forward, or a forged event): no part was lost, none is decided for the gap."),
    AlarmDefinition("part_id_reused", "event", "critical", "actuator",
                    "A part came with the id of a part decided already (its camera's part counter was set back): it is "
                    "decided as any part; its record is refused, the first part's kept."),
    AlarmDefinition("message_refused", "event", "warning", "actuator",
                    "A message on the line's input was refused (malformed, out of range); the sender is named."),
    # the recorder: records, images, disk
    AlarmDefinition("image_store_failed", "condition", "critical", "recorder",
                    "Part images cannot be stored; parts are recorded without them. Cleared when one is stored again."),
    AlarmDefinition("disk_space_low", "condition", "warning", "recorder",
                    "Free space for records or images is below the warning limit; retention frees images first. Cleared "
                    "when free space is back above the limit."),
    AlarmDefinition("disk_space_critical", "condition", "critical", "recorder",
                    "Free space is below the critical limit: images are no longer stored, records still are. Cleared when "
                    "free space is back above the limit."),
    AlarmDefinition("record_write_failed", "condition", "critical", "recorder",
                    "Part records cannot be written (disk full, an I/O error): they are held in memory and retried, and "
                    "the actuator's journal keeps every decision. Cleared when they are written."),
    AlarmDefinition("database_corrupt", "event", "critical", "recorder",
                    "The inspection database was damaged: moved aside, a fresh one refilled from the journal."),
    AlarmDefinition("decisions_recovered", "event", "warning", "recorder",
                    "Decisions had not reached the recorder (a service stopped while they were on their way); recorded "
                    "from the actuator's journal."),
    AlarmDefinition("decision_refused", "event", "warning", "recorder",
                    "A decision or an inspection record (verdict, detections, image) for a part that already has one, "
                    "or for another part under the same id, was refused: the first is kept, no row or image is "
                    "overwritten. Part ids never repeat, so it was a repeated or forged message."),
    # the camera
    AlarmDefinition("camera_lost", "condition", "critical", "camera",
                    "The camera cannot be reached; cleared when frames come again."),
    AlarmDefinition("trigger_journal_failed", "condition", "critical", "camera",
                    "The camera's triggers are not journaled (its state folder cannot be written): triggering goes on, "
                    "but a part whose part-seen event is lost with a frozen actuator, and no later part shows the gap, "
                    "may get no decision. Cleared when a trigger is journaled again."),
    AlarmDefinition("image_health.", "condition", "warning", "camera",
                    "An image check (focus, brightness, ...) is out of its limits; cleared when back within them."),
    AlarmDefinition("image_refused", "event", "warning", "camera",
                    "A part's image was cut, damaged (the decoder warned) or larger than the camera's frame limit: the "
                    "part got no frame, so the fail-safe decision; the reason is named."),
    # the detector
    AlarmDefinition("image_gate", "condition", "critical", "detector",
                    "A camera's frames fail the image gate; its parts are failed safe. Cleared when frames pass."),
    AlarmDefinition("model_refused", "condition", "critical", "detector",
                    "The configured model was refused; the line runs the last-known-good model (or none). Cleared when "
                    "the detector starts on a model it trusts."),
    AlarmDefinition("model_pointer", "condition", "critical", "detector",
                    "The production model record lost its seal; the detector keeps the models it runs. Cleared when the "
                    "record reads sealed again."),
    AlarmDefinition("drift_", "condition", "warning", "detector",
                    "Parts or images differ from what the model learned; cleared when back within the limit."),
    AlarmDefinition("model_rollback", "event", "critical", "detector",
                    "A promoted model was taken back; the previous one decides again."),
    AlarmDefinition("model_shadow", "event", "warning", "detector", "A shadow run of a candidate model stopped."),
    AlarmDefinition("model_swapped", "event", "info", "detector", "The line changed its model between two parts."),
    AlarmDefinition("shadow_report", "event", "info", "detector", "A shadow run finished; its report is written."),
    # the publisher
    AlarmDefinition("mqtt_broker_unreachable", "condition", "warning", "publisher",
                    "Results are kept and sent when the broker is back; cleared when it is."),
    AlarmDefinition("mqtt_outbox_full", "condition", "warning", "publisher",
                    "The MQTT outbox is full; newer results wait in the database. Cleared when it has room."),
)

CATALOGUE: dict[str, AlarmDefinition] = {d.code: d for d in _DEFINITIONS}
_PREFIXES = tuple(d for d in _DEFINITIONS if d.code.endswith((".", "_")))


def definition(code: str) -> AlarmDefinition:
    """The catalogue's entry for ``code`` (a family's entry for ``image_health.focus``); KeyError if unknown."""
    found = CATALOGUE.get(code)
    if found is not None and found not in _PREFIXES:
        return found
    for family in _PREFIXES:
        if code.startswith(family.code) and len(code) > len(family.code):
            return family
    raise KeyError(f"alarm code {code!r} is not in the catalogue (inspector/alarms/catalogue.py)")

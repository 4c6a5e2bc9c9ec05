"""The auxiliary PLC tags' state: refused ones are left out and tried again when due."""

from __future__ import annotations

from inspector.config.schema import PlcTag, PlcTags
from plc_io.aux_tags import AuxTags


def aux() -> AuxTags:
    return AuxTags(PlcTags(heartbeat=PlcTag("HB"), alarms=PlcTag("AL"), ack=PlcTag("ACK")), recheck_s=5.0)


def test_only_the_configured_optional_tags_are_auxiliary():
    tags = aux()
    assert list(tags.tags) == ["heartbeat", "alarms", "ack"]
    assert tags.usable("heartbeat") and not tags.usable("fault_code")


def test_a_refused_tag_is_left_out_until_its_recheck_is_due():
    tags = aux()
    tags.refuse_names({"AL": "Destination unknown"}, now=100.0)
    assert not tags.usable("alarms") and tags.usable("heartbeat")
    assert tags.due(104.9) == [] and tags.due(105.0) == ["alarms"]
    assert tags.describe() == "AL (alarms): Destination unknown"
    tags.refuse("alarms", "still unknown", now=105.0)  # the recheck failed: next one 5 s later
    assert tags.due(109.0) == [] and tags.due(110.0) == ["alarms"]
    tags.accept("alarms")
    assert tags.usable("alarms") and tags.describe() == ""


def test_a_new_session_rechecks_at_once_the_tags_its_check_found_right():
    tags = aux()
    tags.refuse_names({"AL": "Destination unknown", "HB": "Privilege violation"}, now=100.0)
    tags.new_session({"HB": "missing on the controller"}, now=101.0)
    assert tags.due(101.0) == ["alarms"]
    assert tags.refused["heartbeat"].reason == "missing on the controller"

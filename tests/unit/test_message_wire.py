"""The wire stays as it was: a station of before msgspec and one of after read each other's messages, every kind.

``tests/legacy_messages.py`` is the old side (typed dataclasses, ``json``, :func:`inspector.typed.from_dict`);
:mod:`inspector.messages` the new. Same JSON keys in the same order, same values: a line half updated keeps going.
"""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from inspector import messages as new
from inspector.typed import to_dict
from tests import legacy_messages as old


def every_kind(m) -> dict[str, object]:
    """One message of each kind, full of values (optional fields set, nested messages, non-ASCII text), built by
    the old or the new module."""
    detections = [
        m.Detection("scratch", 0.91, (10.0, 20.5, 110.0, 60.0), 4000.0, True),
        m.Detection("dent", 0.3, (200.0, 210.0, 220.0, 230.0), 400.0, False, area_mm2=1.5, model="anomaly@2",
                    outline=[[200.0, 210.0], [220.0, 210.0], [220.0, 230.0]]),
    ]
    verdict = m.Verdict("station-1", "top", 42, 7, "REJECT", 1765000000.25, 1765000000.31, "default@3",
                        detections=detections, timings_ms={"transport": 1.25, "inference": 12.0},
                        reason="scratch 0.91", source="/data/images/Teil_ä_0042.png", first_on_model=3)
    alarm = m.Alarm("station-1", "detector:0", "drift_scores", "warning", "Bewertung außerhalb der Grenze", 1765000000.5,
                    part_id=42, owner="detector:0")
    entry = m.AlarmEntry("detector:0", "drift_scores", "detector:0", "warning", "condition", "x", True, 1765000000.5,
                         1765000000.6, count=3, part_id=42, acked=True, acked_by="olga", t_acked=1765000001.0,
                         shelved_until=1765003600.0, shelved_by="qe", shelve_reason="lamp replaced")
    return {
        "frame_header": m.FrameHeader("station-1", "top", 42, 7, 1765000000.25, 1765000000.26, 480, 640, 1, "uint8",
                                      "Mono8", "synthetic:seed=1", "0011223344556677", 3, 9),
        "part_seen": m.PartSeen("station-1", "top", 42, 7, 1765000000.25),
        "verdict": verdict,
        "decision": m.Decision("station-1", "top", 42, 11, "REJECT", "verdict", 1765000000.25, 1765000000.32, True,
                               t_plc_written=1765000000.33, plc_error="", verdict=verdict, t_plc_sent=1765000000.325,
                               plc_seq=2_147_483_647),
        "decision_failsafe": m.Decision("station-1", "top", 2**63 - 1, 12, "FAILSAFE_REJECT", "deadline", 1.0, 1.3,
                                        False, plc_error="timeout"),
        "alarm": alarm,
        "alarm_standing": m.AlarmStanding("station-1", "detector:0", 1765000000.7, [alarm]),
        "alarm_command": m.AlarmCommand("station-1", "shelve", "detector:0", "drift_scores", "qe", "quality",
                                        1765000000.8, reason="lamp replaced", shelve_s=3600.0),
        "alarm_board": m.AlarmBoardState("station-1", 1765000000.9, 17, [entry]),
        "heartbeat": m.Heartbeat("actuator", 1234, 9, 1765000001.0, {"decisions": 10, "late_verdicts": 1}),
    }


KINDS = list(every_kind(new))


def wire(m, message) -> bytes:
    return m.encode_header(message) if isinstance(message, m.FrameHeader) else m.encode(message)[1]


@pytest.mark.parametrize("kind", KINDS)
def test_the_new_station_reads_what_an_old_one_sends(kind):
    sent, expected = every_kind(old)[kind], every_kind(new)[kind]
    received = new.decode_json(type(expected), wire(old, sent))
    assert received == expected
    assert json.loads(wire(new, received)) == to_dict(sent)


@pytest.mark.parametrize("kind", KINDS)
def test_an_old_station_reads_what_the_new_one_sends(kind):
    sent, expected = every_kind(new)[kind], every_kind(old)[kind]
    assert old.decode_json(type(expected), wire(new, sent)) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_keys_in_the_same_order_with_the_same_values(kind):
    old_json = json.loads(wire(old, every_kind(old)[kind]))
    new_json = json.loads(wire(new, every_kind(new)[kind]))
    assert list(new_json) == list(old_json) and new_json == old_json


def test_the_message_kinds_on_the_wire_are_the_same():
    assert {k: c.__name__ for k, c in new.MESSAGE_KINDS.items()} == {k: c.__name__ for k, c in old.MESSAGE_KINDS.items()}
    for kind, message in every_kind(new).items():
        if not isinstance(message, new.FrameHeader):
            assert new.encode(message)[0] == old.encode(every_kind(old)[kind])[0]


def test_text_that_is_not_unicode_is_sent_with_a_question_mark_never_a_crash_of_the_sender():
    """A file name of undecodable bytes (os.fsdecode's surrogates) as a frame's source."""
    header = msgspec.structs.replace(every_kind(new)["frame_header"], source="/data/part\udcff.png")
    assert new.decode_json(new.FrameHeader, new.encode_header(header)).source == "/data/part?.png"


def test_numbers_numpy_made_travel_as_the_plain_numbers_they_are():
    """json wrote numpy's float64 (a float); msgspec is told how, for every numpy scalar."""
    made = new.Detection("scratch", np.float64(0.91), (np.float32(10.0), 20.5, 110.0, 60.0), np.float64(4000.0),
                         np.bool_(True), area_mm2=np.float64(1.5), outline=[[np.int64(3), np.float32(4.5)]])
    assert new.decode_json(new.Detection, new.to_json(made)) == new.Detection(
        "scratch", 0.91, (10.0, 20.5, 110.0, 60.0), 4000.0, True, area_mm2=1.5, outline=[[3.0, 4.5]])
    assert json.loads(json.dumps(new.to_builtins([made])))[0]["score"] == 0.91

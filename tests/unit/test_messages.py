"""Message contracts: strict JSON encoding and decoding, frame header checks."""

from __future__ import annotations

import json

import pytest

from inspector.errors import MessageError
from inspector.messages import (
    Alarm, AlarmBoardState, AlarmEntry, Decision, FrameHeader, Heartbeat, PartSeen, decode, decode_json, encode, encode_header,
)
from tests.unit.factories import a_header, a_verdict


# -- encode / decode -----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        PartSeen("station-1", "top", 42, 7, 1700000000.25),
        a_verdict(),
        a_verdict(result="PASS", detections=[], timings_ms={}),
        Decision("station-1", "top", 42, 3, "REJECT", "verdict", 1700000000.25, 1700000000.32, True,
                 t_plc_written=1700000000.33, verdict=a_verdict()),
        Decision("station-1", "top", 43, 4, "FAILSAFE_REJECT", "deadline", 1.0, 1.3, False, plc_error="timeout"),
        Heartbeat("actuator", 1234, 9, 1700000000.0, counters={"decisions": 10, "late_verdicts": 1}),
        Alarm("station-1", "actuator", "plc_lost", "critical", "PLC not answering", 1700000000.5, part_id=42),
    ],
    ids=["part_seen", "verdict", "verdict_empty", "decision_with_verdict", "decision_failsafe", "heartbeat", "alarm"],
)
def test_message_survives_encode_and_decode_unchanged(message):
    parts = encode(message)
    assert len(parts) == 2 and all(isinstance(p, bytes) for p in parts)
    assert decode(parts) == message


def test_decoded_detection_box_is_a_tuple_like_the_original():
    decoded = decode(encode(a_verdict()))
    assert decoded.detections[0].box == (10.0, 20.5, 110.0, 60.0)
    assert isinstance(decoded.detections[0].box, tuple)


def test_wire_header_is_plain_json():
    kind, header = encode(PartSeen("s", "c", 1, 2, 3.0))
    assert kind == b"part_seen"
    assert json.loads(header) == {"station": "s", "camera": "c", "part_id": 1, "seq": 2, "t_trigger": 3.0}


def header_of(message) -> dict:
    return json.loads(encode(message)[1])


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([b"pickle", b"{}"], "unknown message kind"),
        ([b"part_seen"], "expected 2 message parts"),
        ([b"part_seen", b"{}", b"extra"], "got 3"),
        ([b"part_seen", b"{not json"], "not valid JSON"),
        ([b"part_seen", b"\xff\xfe"], "not valid JSON"),
        ([b"part_seen", b"[1, 2]"], "expected a mapping"),
    ],
    ids=["unknown_kind", "too_few_parts", "too_many_parts", "invalid_json", "not_utf8", "not_an_object"],
)
def test_malformed_message_is_a_message_error_naming_the_problem(parts, words):
    with pytest.raises(MessageError, match=words):
        decode(parts)


def test_unknown_field_is_rejected_by_name():
    data = header_of(PartSeen("s", "c", 1, 2, 3.0)) | {"operator": "bob"}
    with pytest.raises(MessageError, match="operator: unknown key"):
        decode([b"part_seen", json.dumps(data).encode()])


def test_missing_field_is_rejected_by_name():
    data = header_of(PartSeen("s", "c", 1, 2, 3.0))
    del data["seq"]
    with pytest.raises(MessageError, match="seq: required but missing"):
        decode([b"part_seen", json.dumps(data).encode()])


def test_wrong_type_is_rejected_by_name():
    data = header_of(PartSeen("s", "c", 1, 2, 3.0)) | {"part_id": "1"}
    with pytest.raises(MessageError, match="part_id: expected an integer"):
        decode([b"part_seen", json.dumps(data).encode()])


def test_problem_deep_in_a_decision_names_the_nested_path():
    data = header_of(Decision("s", "c", 1, 2, "REJECT", "verdict", 1.0, 1.1, True, verdict=a_verdict()))
    data["verdict"]["detections"][0]["score"] = "high"
    with pytest.raises(MessageError, match=r"verdict\.detections\[0\]\.score"):
        decode([b"decision", json.dumps(data).encode()])


def test_result_outside_the_contract_is_rejected():
    data = header_of(a_verdict()) | {"result": "MAYBE"}
    with pytest.raises(MessageError, match="result"):
        decode([b"verdict", json.dumps(data).encode()])


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"dtype": "float32"}, "unknown dtype 'float32'"),
        ({"pixel_format": "YUV422"}, "unknown pixel format 'YUV422'"),
        ({"pixel_format": "BGR8", "channels": 1}, "BGR8 has 3 channel"),
        ({"pixel_format": "Mono8", "channels": 3}, "Mono8 has 1 channel"),
        ({"height": 0}, "each side 16 to 65536 pixels"),
        ({"height": 8}, "each side 16 to 65536 pixels"),
        ({"height": 16, "width": 4096}, "more than 64:1 apart"),
    ],
)
def test_frame_header_check_rejects_an_impossible_frame(overrides, words):
    with pytest.raises(MessageError, match=words):
        a_header(**overrides).check()


def test_a_header_too_large_or_too_deeply_nested_is_refused_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MessageError, match="refused: the limit is"):
        decode([b"part_seen", deep])
    nested = b"[" * 20_000 + b"]" * 20_000
    with pytest.raises(MessageError, match="nested too deeply"):
        decode([b"part_seen", nested])
    huge = json.dumps({"part_id": 1, "pad": "x" * (5 * 1024 * 1024)}).encode()
    with pytest.raises(MessageError, match="Verdict header of .* bytes refused"):
        decode([b"verdict", huge])


# -- part ids: 1 .. 2**63 - 1, one bound for every message that carries one --------------------

PART_ID_MESSAGES = {
    "frame_header": lambda part_id: a_header(part_id=part_id),
    "part_seen": lambda part_id: PartSeen("station-1", "top", part_id, 7, 1700000000.25),
    "verdict": lambda part_id: a_verdict(part_id=part_id),
    "decision": lambda part_id: Decision("station-1", "top", part_id, 3, "REJECT", "verdict", 1.0, 1.1, True),
    "decision_verdict": lambda part_id: Decision("station-1", "top", 5, 3, "REJECT", "verdict", 1.0, 1.1, True,
                                                 verdict=a_verdict(part_id=part_id)),
    "alarm": lambda part_id: Alarm("station-1", "actuator", "failsafe_decision", "warning", "x", 1.0, part_id=part_id),
    "alarm_board": lambda part_id: AlarmBoardState("station-1", 1.0, 1, [AlarmEntry(
        "actuator", "failsafe_decision", "", "warning", "event", "x", False, 1.0, 1.0, part_id=part_id)]),
}


def _decode_any(message):
    if isinstance(message, FrameHeader):
        return decode_json(FrameHeader, encode_header(message))
    return decode(encode(message))


@pytest.mark.parametrize("kind", list(PART_ID_MESSAGES))
def test_the_largest_64_bit_part_id_is_accepted(kind):
    message = PART_ID_MESSAGES[kind](2**63 - 1)
    assert _decode_any(message) == message


@pytest.mark.parametrize("part_id", [2**63, 2**64 + 5, 0, -1], ids=["2^63", "2^64+5", "zero", "negative"])
@pytest.mark.parametrize("kind", list(PART_ID_MESSAGES))
def test_a_part_id_outside_1_to_2_63_minus_1_is_refused_at_decode(kind, part_id):
    """A key holder's part id 2**63 is a MessageError here, never an OverflowError in the journal, recorder or SQLite."""
    with pytest.raises(MessageError, match=r"part_id: must be at (least 1|most 9223372036854775807), got"):
        _decode_any(PART_ID_MESSAGES[kind](part_id))


def test_an_alarm_without_a_part_id_is_still_fine():
    alarm = Alarm("station-1", "actuator", "plc_connection_lost", "critical", "x", 1.0)
    assert decode(encode(alarm)).part_id is None

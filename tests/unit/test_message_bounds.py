"""Every value a message carries is bounded at decoding, over real ZeroMQ sockets.

Whatever a key holder (or a buggy service) puts in a field, the receiver gets a message whose integers fit what the
services, SQLite (64 bits) and the PLC's tags hold and whose numbers are finite, or a MessageError that names the
message and the field, cut to a few hundred characters. A well-formed message arrives as it was sent.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import zmq

from inspector import messages as m
from inspector.errors import MessageError
from inspector.netutil import free_tcp_port
from inspector.transport import MalformedFrame, open_socket, recv_frame, recv_message, send_frame, send_message
from tests.unit.test_message_wire import every_kind

GUARD_MS = 5000  # only so a broken transport fails the test instead of hanging it
RAW = "\x00raw\x00"
TOO_BIG_64, TOO_BIG_UNSIGNED, BEYOND = str(2**63), str(2**64), "1e309"


@pytest.fixture(scope="module")
def pair():
    """A PUSH socket connected to a bound PULL socket on a free loopback port."""
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    pull = open_socket(ctx, "pull", endpoint, bind=True)
    push = open_socket(ctx, "push", endpoint, bind=False)
    yield push, pull
    ctx.destroy(linger=0)


def received(pull):
    assert pull.poll(GUARD_MS), "nothing arrived"
    return recv_message(pull)


def with_raw(message, path: str, token: str) -> bytes:
    """``message``'s JSON with the value at ``path`` (``detections.0.score``) replaced by the JSON text ``token``."""
    data = json.loads(m.encode_header(message) if isinstance(message, m.FrameHeader) else m.encode(message)[1])
    *parents, last = path.split(".")
    node = data
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    node[int(last) if isinstance(node, list) else last] = RAW
    return json.dumps(data).replace(json.dumps(RAW), token).encode()


def shown(path: str) -> str:
    """How a refusal names the field at ``path``: ``detections[0].score``."""
    out = ""
    for step in path.split("."):
        out += f"[{step}]" if step.isdigit() else f".{step}"
    return out.lstrip(".")


#: (message kind, field path, the refused values): every integer field, and numbers of each kind
FIELDS = [
    ("part_seen", "part_id", [TOO_BIG_64, TOO_BIG_UNSIGNED, "0", "-1", BEYOND, "NaN"]),
    ("part_seen", "seq", [TOO_BIG_64, TOO_BIG_UNSIGNED, "-1", BEYOND, "NaN"]),
    ("part_seen", "t_trigger", ["-1", BEYOND, "NaN", "Infinity", "-Infinity", "1e300"]),
    ("verdict", "part_id", [TOO_BIG_64, "-1"]),
    ("verdict", "seq", [TOO_BIG_64, "-1"]),
    ("verdict", "first_on_model", [TOO_BIG_64, "-1"]),
    ("verdict", "detections.0.score", [BEYOND, "NaN", "-Infinity"]),
    ("verdict", "detections.0.box.2", [BEYOND, "NaN"]),
    ("verdict", "detections.1.outline.0.1", [BEYOND, "NaN"]),
    ("verdict", "detections.1.area_mm2", [BEYOND, "NaN"]),
    ("decision", "part_id", [TOO_BIG_64, TOO_BIG_UNSIGNED, "-1"]),
    ("decision", "seq", [TOO_BIG_64, "-1"]),
    ("decision", "plc_seq", [TOO_BIG_64, "-1"]),
    ("decision", "t_plc_written", [BEYOND, "NaN", "-1"]),
    ("decision", "verdict.part_id", [TOO_BIG_64, "0"]),
    ("decision", "verdict.detections.0.score", ["NaN"]),
    ("alarm", "part_id", [TOO_BIG_64, "-1"]),
    ("alarm_standing", "alarms.0.part_id", [TOO_BIG_64]),
    ("alarm_command", "shelve_s", [BEYOND, "NaN"]),
    ("alarm_board", "version", [TOO_BIG_64, "-1"]),
    ("alarm_board", "entries.0.count", [TOO_BIG_64, "-1"]),
    ("alarm_board", "entries.0.part_id", [TOO_BIG_UNSIGNED, "0"]),
    ("heartbeat", "pid", [TOO_BIG_64, str(2**31), "-1"]),
    ("heartbeat", "seq", [TOO_BIG_64, "-1"]),
    ("heartbeat", "counters.decisions", [TOO_BIG_64, str(-(2**63) - 1), BEYOND, "NaN"]),
]
CASES = [(kind, path, token) for kind, path, tokens in FIELDS for token in tokens]


@pytest.mark.parametrize(("kind", "path", "token"), CASES, ids=[f"{k}.{p}={t}" for k, p, t in CASES])
def test_a_value_out_of_bounds_is_refused_naming_the_message_and_the_field(pair, kind, path, token):
    push, pull = pair
    message = every_kind(m)[kind]
    push.send_multipart([m.KIND_OF[type(message)], with_raw(message, path, token)])
    with pytest.raises(MessageError) as refused:
        received(pull)
    text = str(refused.value)
    assert f"{type(message).__name__} header field {shown(path)}: " in text, text
    assert len(text) < 600


FRAME_FIELDS = [
    ("part_id", [TOO_BIG_64, "-1"]), ("seq", [TOO_BIG_64, "-1"]), ("t_capture", [BEYOND, "NaN"]),
    ("height", [TOO_BIG_64, str(2**31), "-1"]), ("width", [TOO_BIG_UNSIGNED, "-1"]), ("channels", [TOO_BIG_64, "-1"]),
    ("ring_slot", [str(m.MAX_RING_SLOTS), "-2", TOO_BIG_64]), ("ring_generation", [TOO_BIG_64, "-1"]),
]
FRAME_CASES = [(path, token) for path, tokens in FRAME_FIELDS for token in tokens]


@pytest.mark.parametrize(("path", "token"), FRAME_CASES, ids=[f"{p}={t}" for p, t in FRAME_CASES])
def test_a_frame_header_out_of_bounds_is_a_malformed_frame_naming_the_field(pair, path, token):
    push, pull = pair
    header = every_kind(m)["frame_header"]
    pixels = np.zeros((header.height, header.width), np.uint8)
    push.send_multipart([m.FRAME_KIND, with_raw(header, path, token), pixels])
    assert pull.poll(GUARD_MS), "nothing arrived"
    with pytest.raises(MalformedFrame, match=rf"FrameHeader header field {path}: "):
        recv_frame(pull)


@pytest.mark.parametrize(("height", "width", "channels"), [(8, 640, 1), (480, 70_000, 1), (480, 640, 4), (16, 4096, 1)])
def test_a_frame_shape_no_station_takes_is_refused_with_the_part_it_belongs_to(pair, height, width, channels):
    """Sides and channels within 32 bits decode; the frame rule (16 .. 65536 pixels a side, channels of the pixel
    format, 64:1 at most) refuses the rest with the header known, so the detector fails the part safe at once."""
    push, pull = pair
    header = m.FrameHeader("station-1", "top", 42, 7, 1.0, 1.01, height, width, channels, "uint8", "Mono8")
    push.send_multipart([m.FRAME_KIND, m.encode_header(header), b"\x00" * 64])
    assert pull.poll(GUARD_MS), "nothing arrived"
    with pytest.raises(MalformedFrame, match="frame of part 42") as refused:
        recv_frame(pull)
    assert refused.value.header == header


@pytest.mark.parametrize(("kind", "field"), [("part_seen", "camera"), ("verdict", "reason"), ("alarm_board", "station"),
                                             ("heartbeat", "service")])
def test_a_10_mib_string_is_refused_by_the_message_size_naming_the_message(pair, kind, field):
    push, pull = pair
    message = every_kind(m)[kind]
    push.send_multipart([m.KIND_OF[type(message)], with_raw(message, field, json.dumps("x" * (10 * 1024 * 1024)))])
    with pytest.raises(MessageError, match=rf"^{type(message).__name__} header of \d+ bytes refused: the limit is \d+$"):
        received(pull)


@pytest.mark.parametrize("size", [50_000, 3_000_000], ids=["50kB", "3MB"])
def test_a_refused_value_is_shown_cut_never_whole(pair, size):
    push, pull = pair
    message = every_kind(m)["verdict"]
    push.send_multipart([b"verdict", with_raw(message, "part_id", json.dumps("7" * size))])
    with pytest.raises(MessageError, match=r"Verdict header field part_id: expected an integer, got '7777") as refused:
        received(pull)
    assert len(str(refused.value)) < 600


@pytest.mark.parametrize("kind", list(every_kind(m)))
def test_a_well_formed_message_arrives_as_it_was_sent(pair, kind):
    push, pull = pair
    message = every_kind(m)[kind]
    if isinstance(message, m.FrameHeader):
        pixels = np.arange(message.height * message.width, dtype=np.uint8).reshape(message.shape)
        assert send_frame(push, message, pixels)
        assert pull.poll(GUARD_MS), "nothing arrived"
        header, got = recv_frame(pull)
        assert header == message and np.array_equal(got, pixels)
        return
    assert send_message(push, message, block=True)
    assert received(pull) == message


@pytest.mark.parametrize("message", [
    m.PartSeen("s", "c", m.MAX_INT64, m.MAX_INT64, m.MAX_TIME),
    m.PartSeen("s", "c", 1, 0, 0.0),
    m.FrameHeader("s", "c", 1, 0, 0.0, m.MAX_TIME, m.MAX_INT32, m.MAX_INT32, m.MAX_INT32, "uint8", "Mono8",
                  ring_slot=m.MAX_RING_SLOTS - 1, ring_generation=m.MAX_INT64),
    m.Heartbeat("h", m.MAX_INT32, m.MAX_INT64, 1.0, {"low": -(2**63), "high": m.MAX_INT64}),
    m.AlarmBoardState("s", 1.0, m.MAX_INT64, []),
], ids=["largest", "smallest", "frame_header_largest", "heartbeat_extremes", "board_version"])
def test_the_values_at_the_bounds_are_accepted(message):
    decoded = (m.decode_json(m.FrameHeader, m.encode_header(message)) if isinstance(message, m.FrameHeader)
               else m.decode(m.encode(message)))
    assert decoded == message


TOKENS = ["NaN", "Infinity", "1e309", "-1", "0", str(2**63), str(2**64), "null", "true", '"x"', "[]", "{}", "1.5",
          '"\\ud800"', "[[[[[[[[1]]]]]]]]", "[" * 900 + "]" * 900, '{"a":' * 300 + "1" + "}" * 300]


@pytest.mark.parametrize("kind", list(every_kind(m)))
def test_whatever_bytes_arrive_decoding_gives_a_message_or_a_short_message_error(kind):
    """Mangled messages of every kind (cut, a value replaced, something inserted): never another exception."""
    rng = random.Random(kind)
    message = every_kind(m)[kind]
    raw = (m.encode_header(message) if isinstance(message, m.FrameHeader) else m.encode(message)[1]).decode()
    for _ in range(150):
        pos = rng.randrange(len(raw))
        how = rng.random()
        if how < 0.3:
            text = raw[:pos] + raw[pos + rng.randrange(1, 5):]
        elif how < 0.6:
            text = raw[:pos] + rng.choice(TOKENS) + raw[pos:]
        else:
            start = rng.choice([i for i, c in enumerate(raw) if c == ":"]) + 1
            end = start
            while end < len(raw) and raw[end] not in ",}]":
                end += 1
            text = raw[:start] + rng.choice(TOKENS) + raw[end:]
        try:
            m.decode_json(type(message), text.encode())
        except MessageError as refused:
            assert len(str(refused)) < 600, str(refused)

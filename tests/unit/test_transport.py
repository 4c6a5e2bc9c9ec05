"""ZeroMQ transport over real loopback sockets: zero-copy frames, malformed frames, gaps."""

from __future__ import annotations

import numpy as np
import pytest
import zmq

from inspector.errors import MessageError
from inspector.messages import PartSeen, encode_header
from inspector.netutil import free_tcp_port
from inspector.transport import (
    GapCounter,
    MalformedFrame,
    open_socket,
    parse_frame,
    recv_frame,
    recv_message,
    send_frame,
    send_message,
)
from tests.unit.factories import a_header, a_verdict

RECEIVE_GUARD_MS = 5000  # only so a broken transport fails the test instead of hanging it


# -- a real socket pair ----------------------------------------------------------------


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def pair(ctx):
    """A PUSH socket connected to a bound PULL socket on a free loopback port."""
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    pull = open_socket(ctx, "pull", endpoint, bind=True)
    push = open_socket(ctx, "push", endpoint, bind=False)
    return push, pull


def receive_frame(pull):
    assert pull.poll(RECEIVE_GUARD_MS), "nothing arrived"
    return recv_frame(pull)


FRAMES = {
    "mono8": (np.random.default_rng(1).integers(0, 256, (480, 640), dtype=np.uint8), "Mono8"),
    "bgr8": (np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8), "BGR8"),
    "mono16": (np.random.default_rng(3).integers(0, 65536, (300, 400), dtype=np.uint16), "Mono16"),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_frame_round_trips_bit_exactly_over_push_pull(pair, name):
    push, pull = pair
    pixels, fmt = FRAMES[name]
    height, width = pixels.shape[:2]
    header = a_header(height=height, width=width, channels=1 if pixels.ndim == 2 else 3,
                      dtype=str(pixels.dtype), pixel_format=fmt)

    assert send_frame(push, header, pixels)
    got_header, got = receive_frame(pull)

    assert got_header == header
    assert got.dtype == pixels.dtype and got.shape == pixels.shape
    assert np.array_equal(got, pixels)


def test_received_pixels_are_a_view_on_the_zmq_buffer(pair):
    push, pull = pair
    pixels, _ = FRAMES["mono8"]
    send_frame(push, a_header(), pixels)
    _, got = receive_frame(pull)
    assert not got.flags.owndata
    base = got
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview)


def test_send_frame_refuses_a_non_contiguous_array(pair):
    push, _ = pair
    pixels = np.zeros((480, 1280), np.uint8)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        send_frame(push, a_header(), pixels)


def send_and_receive_raw(pair, parts: list[bytes]) -> list[zmq.Frame]:
    """Send ``parts`` as they are and receive them as the frame receiver does (no copy)."""
    push, pull = pair
    push.send_multipart(parts)
    assert pull.poll(RECEIVE_GUARD_MS), "nothing arrived"
    return pull.recv_multipart(copy=False)


def test_wrong_buffer_size_is_malformed_with_its_header_kept(pair):
    header = a_header(height=16, width=16)
    parts = send_and_receive_raw(pair, [b"frame", encode_header(header), bytes(255)])
    with pytest.raises(MalformedFrame, match="255 bytes") as info:
        parse_frame(parts)
    assert info.value.header == header  # so the part can still be failed by id


def test_impossible_header_is_malformed_with_its_header_kept(pair):
    header = a_header(height=2, width=2, pixel_format="BGR8")
    parts = send_and_receive_raw(pair, [b"frame", encode_header(header), bytes(4)])
    with pytest.raises(MalformedFrame) as info:
        parse_frame(parts)
    assert info.value.header == header


def test_unreadable_header_is_malformed_without_a_header(pair):
    parts = send_and_receive_raw(pair, [b"frame", b"{broken", bytes(16)])
    with pytest.raises(MalformedFrame, match="not valid JSON") as info:
        parse_frame(parts)
    assert info.value.header is None


@pytest.mark.parametrize(
    "parts", [[b"verdict", b"{}", b"x"], [b"frame", b"{}"]], ids=["wrong_kind", "two_parts"]
)
def test_non_frame_message_is_malformed(pair, parts):
    with pytest.raises(MalformedFrame):
        parse_frame(send_and_receive_raw(pair, parts))


def test_message_round_trips_over_push_pull(pair):
    push, pull = pair
    message = a_verdict()
    assert send_message(push, message)
    assert pull.poll(RECEIVE_GUARD_MS)
    assert recv_message(pull) == message


def test_send_message_reports_false_when_no_receiver_is_connected(ctx):
    lonely = open_socket(ctx, "push", f"tcp://127.0.0.1:{free_tcp_port()}", bind=True)
    assert send_message(lonely, PartSeen("s", "c", 1, 1, 1.0)) is False


def test_binding_a_taken_port_is_a_message_error_naming_the_endpoint(ctx):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    first = open_socket(ctx, "pull", endpoint, bind=True)
    with pytest.raises(MessageError, match=endpoint):
        open_socket(ctx, "pull", endpoint, bind=True)
    assert not first.closed


# -- sequence gaps ---------------------------------------------------------------------


def test_gap_counter_counts_missing_sequence_numbers():
    gaps = GapCounter()
    assert [gaps.observe("cam", s) for s in (1, 2, 5, 6, 10)] == [0, 0, 2, 0, 3]
    assert gaps.missing == 5


def test_gap_counter_keeps_senders_apart():
    gaps = GapCounter()
    gaps.observe("top", 1)
    gaps.observe("side", 100)
    assert gaps.observe("top", 2) == 0
    assert gaps.observe("side", 101) == 0
    assert gaps.missing == 0


def test_gap_counter_treats_a_lower_sequence_as_a_restart_not_a_gap():
    gaps = GapCounter()
    gaps.observe("cam", 1)
    gaps.observe("cam", 50)
    assert gaps.missing == 48
    assert gaps.observe("cam", 1) == 0  # the sender restarted
    assert gaps.observe("cam", 3) == 1  # counted from the restart
    assert gaps.missing == 49

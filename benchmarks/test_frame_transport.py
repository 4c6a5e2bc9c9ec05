"""Frames through ZeroMQ as the line sends them (header + raw pixels, no copy, over TCP loopback), and the message decoding on each part's path.

    .venv/bin/pytest benchmarks/test_frame_transport.py --benchmark-only

benchmarks/frame_transport.py measures the same path between processes, with
latency percentiles and the proof of no copy; this suite tracks it per commit.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.messages import Detection, FrameHeader, Verdict, decode, decode_json, encode, encode_header
from inspector.netutil import free_tcp_port
from inspector.transport import open_socket, recv_frame, send_frame


@pytest.fixture(scope="module")
def sockets():
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    # the line's queue depth: with a tiny one, a non-blocking send can find the queue "full" before the
    # socket has processed the receiver's acknowledgements, although every frame was already received
    hwm = load_config(DEFAULT_CONFIG).transport.high_water_mark
    push = open_socket(ctx, "push", endpoint, bind=True, hwm=hwm)
    pull = open_socket(ctx, "pull", endpoint, bind=False, hwm=hwm)
    push.setsockopt(zmq.SNDTIMEO, 10_000)
    push.send(b"connected?")  # blocks until the connection is up (a non-blocking frame send would fail before)
    assert pull.poll(10_000) and pull.recv() == b"connected?"
    yield push, pull
    push.close(0)
    pull.close(0)
    ctx.term()


def _header(frame: np.ndarray, part_id: int = 1) -> FrameHeader:
    now = time.time()
    return FrameHeader(
        station="bench", camera="top", part_id=part_id, seq=part_id, t_trigger=now, t_capture=now,
        height=frame.shape[0], width=frame.shape[1], channels=1, dtype="uint8", pixel_format="Mono8",
    )


@pytest.mark.parametrize("shape", [(480, 640), (2048, 2448)], ids=["640x480", "5MP"])
def test_frame_round_trip(benchmark, sockets, shape):
    push, pull = sockets
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    header = _header(frame)

    def one_frame():
        assert send_frame(push, header, frame)
        return recv_frame(pull)

    got_header, pixels = benchmark(one_frame)
    assert got_header.part_id == header.part_id
    assert pixels.shape == shape and pixels[0, 0] == frame[0, 0]


def _reject_verdict() -> Verdict:
    now = time.time()
    return Verdict(
        station="bench", camera="top", part_id=1, seq=1, result="REJECT", t_trigger=now, t_verdict=now, model_version="bench",
        detections=[Detection("crack", 0.8, (10.0, 20.0, 60.0, 90.0), 3500.0, True) for _ in range(3)],
        timings_ms={"transport": 0.5, "preprocess": 0.2, "inference": 13.0, "postprocess": 0.3},
    )


def test_verdict_decode(benchmark):
    """The actuator decodes (strictly) every verdict between the detector and the PLC write."""
    verdict = _reject_verdict()
    parts = encode(verdict)
    assert benchmark(decode, parts) == verdict


def test_frame_header_decode(benchmark):
    """The detector decodes every frame's header before the part is inspected."""
    header = _header(np.zeros((480, 640), np.uint8))
    payload = encode_header(header)
    assert benchmark(decode_json, FrameHeader, payload) == header

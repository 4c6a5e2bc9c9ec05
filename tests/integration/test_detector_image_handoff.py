"""The detector hands a stored part's image to the recorder after its verdict, never losing one.

A real detector service (bundled model, ONNX Runtime) in a thread, fed and
read through real ZeroMQ sockets bound where the actuator and the recorder
would bind theirs.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import zmq

from inspector.messages import FRAME_KIND, Verdict, decode_json, encode_header
from inspector.services.detector import INSPECTION_KIND, DetectorService
from inspector.synthetic import PartGenerator
from inspector.transport import frame_from_parts, recv_message
from tests.helpers import PeerSockets, header_for

pytestmark = pytest.mark.slow


@pytest.fixture
def detector_line(line_config):
    """A starter: a detector with the given image delay -> (service, its thread, send a frame, verdicts, inspections)."""
    threads: list[tuple[DetectorService, threading.Thread]] = []
    peers: list[PeerSockets] = []

    def start(image_send_delay_ms: float):
        config = line_config(image_send_delay_ms=image_send_delay_ms)
        config = dataclasses.replace(config, recorder=dataclasses.replace(config.recorder, sample_passes=1.0))
        ends = PeerSockets(config)  # the camera, actuator and recorder ends, with their keys
        peers.append(ends)
        frames = ends.open("camera", "frames")
        frames.setsockopt(zmq.SNDTIMEO, 60_000)  # a blocking send waits for the detector to connect
        verdicts = ends.open("actuator", "verdicts")
        inspections = ends.open("recorder", "inspections")
        service = DetectorService(config)
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        threads.append((service, thread))

        def send(part_id: int, pixels: np.ndarray) -> None:
            frames.send_multipart([FRAME_KIND, encode_header(header_for(part_id, pixels)), pixels], copy=False)

        return service, thread, send, verdicts, inspections

    yield start
    for service, thread in threads:
        service.stop()
        thread.join(30)
    for ends in peers:
        ends.close()


def receive(sock: zmq.Socket, timeout_s: float) -> list[zmq.Frame] | None:
    if not sock.poll(timeout_s * 1000):
        return None
    return sock.recv_multipart(copy=False)


def test_the_image_follows_the_verdict_after_the_delay_unchanged(detector_line):
    service, _, send, verdicts, inspections = detector_line(image_send_delay_ms=1000)
    image = np.ascontiguousarray(PartGenerator(seed=5).part(0).image)
    send(1, image)
    assert verdicts.poll(60_000), "no verdict from the detector"
    verdict = recv_message(verdicts)
    verdict_seen = time.time()
    assert isinstance(verdict, Verdict) and verdict.part_id == 1
    assert receive(inspections, 0.5) is None, "the image came with the verdict instead of after the delay"
    parts = receive(inspections, 10)
    assert parts is not None, "the image never reached the recorder's socket"
    image_seen = time.time()
    assert image_seen - verdict_seen >= 0.5
    assert parts[0].bytes == INSPECTION_KIND
    assert decode_json(Verdict, parts[1].buffer).part_id == 1
    _, pixels = frame_from_parts(parts[2], parts[3])
    np.testing.assert_array_equal(pixels, image)  # the held buffer is still the frame's


def test_images_held_when_the_detector_stops_are_sent(detector_line):
    service, thread, send, verdicts, inspections = detector_line(image_send_delay_ms=1000)
    images = [np.ascontiguousarray(PartGenerator(seed=6).part(i).image) for i in range(3)]
    for part_id, image in enumerate(images, start=1):
        send(part_id, image)
    for _ in images:
        assert verdicts.poll(60_000), "no verdict from the detector"
        recv_message(verdicts)
    assert inspections.poll(0) == 0, "an image came before its delay"
    service.stop()
    thread.join(30)
    assert not thread.is_alive()
    received = [receive(inspections, 5) for _ in images]
    assert all(received), "an image held at the stop was lost"
    assert [decode_json(Verdict, p[1].buffer).part_id for p in received] == [1, 2, 3]

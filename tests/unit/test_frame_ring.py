"""Frames handed over in a shared-memory ring: bit-exact, never another part's pixels, only an owner-only file."""

from __future__ import annotations

import dataclasses
import os

import msgspec
import numpy as np
import pytest
import zmq

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.frame_ring import CameraRing, FrameRingReader, FrameRingWriter, StationRings, ring_path
from inspector.line_setup import local_line_config
from inspector.netutil import free_tcp_port
from inspector.transport import MalformedFrame, open_socket, parse_frame, send_frame_header
from tests.unit.factories import a_header

RNG = np.random.default_rng(7)


@pytest.fixture
def ring_file(tmp_path):
    path = ring_path(str(tmp_path), "top")
    yield path
    path.unlink(missing_ok=True)


def in_ring(writer: FrameRingWriter, pixels: np.ndarray, **header):
    slot, generation = writer.write(pixels)
    fields = dict(height=pixels.shape[0], width=pixels.shape[1], channels=1 if pixels.ndim == 2 else pixels.shape[2],
                  dtype=str(pixels.dtype), pixel_format="Mono8" if pixels.ndim == 2 else "BGR8")
    if pixels.dtype == np.uint16:
        fields["pixel_format"] = "Mono16"
    return a_header(**fields, **header, ring=writer.ring_id, ring_slot=slot, ring_generation=generation)


@pytest.mark.parametrize("shape,dtype", [((480, 640), np.uint8), ((240, 320, 3), np.uint8), ((300, 400), np.uint16)])
def test_a_frame_comes_out_of_the_ring_bit_exact_and_as_a_private_copy(ring_file, shape, dtype):
    writer = FrameRingWriter(ring_file, slots=4, slot_bytes=640 * 480 * 3)
    pixels = RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    header = in_ring(writer, pixels)
    reader = FrameRingReader(ring_file)
    received = reader.read(header)
    assert received.dtype == dtype and received.shape == shape
    assert np.array_equal(received, pixels)
    in_ring(writer, np.zeros_like(pixels))  # the slot is used again later: the detector's copy stays
    assert np.array_equal(received, pixels)
    reader.close()
    writer.close()
    assert not ring_file.exists(), "a camera that stops removes its ring"


def test_a_frame_overwritten_before_it_was_read_is_refused_not_inspected_as_another_part(ring_file):
    writer = FrameRingWriter(ring_file, slots=3, slot_bytes=64 * 64)
    first = in_ring(writer, RNG.integers(0, 255, (64, 64), dtype=np.uint8), part_id=1)
    for part in range(2, 5):  # the camera laps the ring: part 4 lands in part 1's slot
        last = in_ring(writer, RNG.integers(0, 255, (64, 64), dtype=np.uint8), part_id=part)
    assert last.ring_slot == first.ring_slot
    reader = FrameRingReader(ring_file)
    with pytest.raises(MalformedFrame, match="part 1 was overwritten") as info:
        reader.read(first)
    assert info.value.header == first, "so part 1 is failed safe by its id"
    assert reader.read(last).shape == (64, 64)
    writer.close()


def test_a_ring_file_others_could_read_or_write_is_refused(ring_file):
    writer = FrameRingWriter(ring_file, slots=2, slot_bytes=64 * 64)
    header = in_ring(writer, np.ones((64, 64), np.uint8))
    os.chmod(ring_file, 0o644)
    with pytest.raises(MalformedFrame, match="no one else can read or write"):
        FrameRingReader(ring_file).read(header)
    writer.close()


def test_a_header_naming_a_slot_outside_the_ring_or_an_unknown_ring_is_refused(ring_file):
    writer = FrameRingWriter(ring_file, slots=2, slot_bytes=64 * 64)
    header = in_ring(writer, np.ones((64, 64), np.uint8))
    reader = FrameRingReader(ring_file)
    with pytest.raises(MalformedFrame, match="does not fit the ring"):
        reader.read(msgspec.structs.replace(header, ring_slot=2))
    with pytest.raises(MalformedFrame, match="names ring"):
        reader.read(msgspec.structs.replace(header, ring="00" * 8))
    writer.close()


def test_a_restarted_camera_makes_a_new_ring_and_the_detector_follows_it(ring_file):
    reader = FrameRingReader(ring_file)
    first = FrameRingWriter(ring_file, slots=2, slot_bytes=64 * 64)
    assert reader.read(in_ring(first, np.full((64, 64), 1, np.uint8)))[0, 0] == 1
    first.close(remove=False)  # killed: its file stays until the new camera replaces it
    second = FrameRingWriter(ring_file, slots=2, slot_bytes=64 * 64)
    assert second.ring_id != first.ring_id
    assert reader.read(in_ring(second, np.full((64, 64), 2, np.uint8)))[0, 0] == 2
    second.close()


def test_the_camera_grows_its_ring_for_a_bigger_frame_and_falls_back_to_messages_off_host(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line", parts=1, rate_hz=10)
    camera = CameraRing(config, config.cameras[0].name)
    rings = StationRings(config)
    try:
        for shape in [(64, 64), (480, 640)]:
            pixels = RNG.integers(0, 255, shape, dtype=np.uint8)
            header = camera.place(a_header(camera=config.cameras[0].name, height=shape[0], width=shape[1]), pixels)
            assert header is not None and header.in_ring
            assert np.array_equal(rings.read(header), pixels)
        with pytest.raises(MalformedFrame, match="not in the station config"):
            rings.read(msgspec.structs.replace(header, camera="elsewhere"))
    finally:
        rings.close()
        camera.close()
    remote = dataclasses.replace(config, transport=dataclasses.replace(config.transport, frames="tcp://0.0.0.0:5561"))
    assert CameraRing(remote, config.cameras[0].name).place(a_header(), np.zeros((480, 640), np.uint8)) is None
    by_message = dataclasses.replace(config, transport=dataclasses.replace(config.transport, frame_handoff="message"))
    assert CameraRing(by_message, config.cameras[0].name).place(a_header(), np.zeros((480, 640), np.uint8)) is None


def test_a_frame_header_without_pixels_or_slot_and_a_ring_frame_without_a_reader_are_malformed(ring_file):
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    pull = open_socket(ctx, "pull", endpoint, bind=True)
    push = open_socket(ctx, "push", endpoint, bind=False)
    writer = FrameRingWriter(ring_file, slots=2, slot_bytes=64 * 64)
    try:
        assert send_frame_header(push, a_header(height=64, width=64))
        assert send_frame_header(push, in_ring(writer, np.ones((64, 64), np.uint8)))
        assert pull.poll(5000)
        with pytest.raises(MalformedFrame, match="has no pixels"):
            parse_frame(pull.recv_multipart(copy=False), FrameRingReader(ring_file).read)
        assert pull.poll(5000)
        with pytest.raises(MalformedFrame, match="takes pixels in messages only"):
            parse_frame(pull.recv_multipart(copy=False))
    finally:
        writer.close()
        ctx.destroy(linger=0)


def test_a_frame_above_the_cameras_limit_is_refused_and_the_ring_never_grows_past_the_limit(tmp_path):
    """A 10000 x 10000 image once made a 1.6 GB ring in /dev/shm (16 slots of 100 MB)."""
    from inspector.errors import ImageRefused

    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line", parts=1, rate_hz=10)
    name = config.cameras[0].name
    limit = 4 * 640 * 480 * 6  # the default: twice the declared 640 x 480 in 16-bit colour
    camera = CameraRing(config, name)
    try:
        assert camera.max_slot_bytes == limit
        header = camera.place(a_header(camera=name), RNG.integers(0, 255, (480, 640), dtype=np.uint8))
        ring_bytes = os.stat(camera.path).st_size
        huge = np.zeros((10_000, 10_000), np.uint8)  # pages never touched: nothing is copied
        with pytest.raises(ImageRefused, match=rf"10000x10000, 100000000 bytes\) is above the camera's frame limit of {limit} bytes"):
            camera.place(a_header(camera=name, height=10_000, width=10_000), huge)
        assert os.stat(camera.path).st_size == ring_bytes, "the ring was not grown"
        near = RNG.integers(0, 255, (1800, 2400, 3), dtype=np.uint8)  # 12.4 MiB: above the limit too
        with pytest.raises(ImageRefused):
            camera.place(a_header(camera=name, height=1800, width=2400, channels=3, pixel_format="BGR8"), near)
        for height, width in ((1000, 1400), (1200, 1600)):  # 4.0, then 5.5 MiB: the ring doubles, to the limit at most
            within = RNG.integers(0, 255, (height, width, 3), dtype=np.uint8)
            assert camera.place(a_header(camera=name, height=height, width=width, channels=3, pixel_format="BGR8"), within).in_ring
        assert camera.writer.slot_bytes == limit < 2 * 1000 * 1400 * 3
        assert header.in_ring
    finally:
        camera.close()
    by_message = dataclasses.replace(config, transport=dataclasses.replace(config.transport, frame_handoff="message"))
    with pytest.raises(ImageRefused):  # pixels that would travel in the message are refused the same way
        CameraRing(by_message, name).place(a_header(camera=name, height=10_000, width=10_000), huge)
    small = dataclasses.replace(config, transport=dataclasses.replace(config.transport, max_frame_mb=1.0))
    assert CameraRing(small, name).max_slot_bytes == 1024 * 1024, "never above what a detector accepts"

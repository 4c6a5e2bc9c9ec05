"""The camera service on its own, with the emulated Basler camera and real sockets standing in for its peers."""

from __future__ import annotations

import dataclasses
import os
import threading

os.environ.setdefault("PYLON_CAMEMU", "2")

import pytest  # noqa: E402

from inspector.frame_ring import StationRings  # noqa: E402
from inspector.messages import PartSeen  # noqa: E402
from inspector.services.camera import CameraService  # noqa: E402
from inspector.transport import recv_frame, recv_message  # noqa: E402
from tests.helpers import PeerSockets, wait_until  # noqa: E402


@pytest.fixture
def hardware_triggered(line_config):
    """A camera service whose camera is triggered outside it (hardware mode) and the sockets of its peers.

    The emulator has no input lines to pulse, so the camera's trigger source is its
    software trigger, fired by the test as a part sensor wired to the camera would."""
    config = line_config()
    cam = dataclasses.replace(config.cameras[0], driver="basler", trigger_mode="hardware", trigger_source="Software")
    config = dataclasses.replace(config, cameras=[cam])
    peers = PeerSockets(config)  # the actuator's and the detector's ends, with their keys
    part_seen = peers.open("actuator", "part_seen")
    frames = peers.open("detector", "frames")
    service = CameraService(config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    wait_until(lambda: service.driver is not None, 30, "the camera to open")
    yield service, part_seen, frames
    service.stop()
    thread.join(30)
    peers.close()


def test_hardware_triggered_frames_are_parts_and_an_incomplete_buffer_still_gets_its_part(hardware_triggered):
    service, part_seen, frames = hardware_triggered
    camera = service.driver._camera

    def fire(failed: bool = False) -> None:
        before = service.counters["triggered"]
        if failed:
            camera.ForceFailedBufferCount.Value = 1
            camera.ForceFailedBuffer.Execute()
        camera.WaitForFrameTriggerReady(2000)
        camera.TriggerSoftware.Execute()  # the part sensor's pulse
        wait_until(lambda: service.counters["triggered"] == before + 1, 10, "the part to be seen")

    for failed in (False, False, True, False):
        fire(failed)
    seen = [recv_message(part_seen) for _ in range(4)]
    rings = StationRings(service.config)  # the frames' pixels wait in the camera's shared-memory ring
    received = [recv_frame(frames, read_ring=rings.read)[0] for _ in range(3)]
    rings.close()
    assert all(isinstance(s, PartSeen) for s in seen)
    assert [s.part_id for s in seen] == [1, 2, 3, 4], "every trigger is a part, the incomplete one too"
    assert [h.part_id for h in received] == [1, 2, 4], "part 3's buffer was incomplete: no frame, so a fail-safe decision"
    blocks = [int(h.source.rsplit("#", 1)[1]) for h in received]
    assert blocks == [blocks[0], blocks[0] + 1, blocks[0] + 3], "each part carries its own camera frame"
    assert service.counters["frames_incomplete_on_grab"] == 1
    assert service.heartbeat_counters()["frames_incomplete"] == 1
    assert all(h.t_trigger == s.t_trigger for h, s in zip(received, [seen[0], seen[1], seen[3]]))


def test_damaged_and_oversized_images_are_never_sent_and_each_part_is_failed_safe_with_its_reason(line_config, tmp_path):
    """20 JPEGs of defective parts cut at half with an end marker, then a 10000 x 10000 PNG, then a whole image:
    every part is seen (so the actuator decides it fail-safe at its deadline), only the whole image is sent,
    each refusal is an ``image_refused`` event naming the part and the reason, and the ring stays small."""
    import cv2

    from inspector.frame_ring import ring_path
    from inspector.messages import Alarm
    from inspector.synthetic import PartGenerator
    from tests.unit.test_camera_drivers import big_png, cut_with_end_marker

    folder = tmp_path / "replay"
    folder.mkdir()
    generator = PartGenerator(seed=5, defect_rate=1.0)
    for i in range(20):
        (folder / f"a_{i:02d}.jpg").write_bytes(cut_with_end_marker(cv2.imencode(".jpg", generator.part(i).image)[1].tobytes()))
    big_png(folder / "b_huge.png", 10_000, 10_000)
    cv2.imwrite(str(folder / "c_whole.png"), generator.part(20).image)
    config = line_config()
    cam = dataclasses.replace(config.cameras[0], driver="folder", folder=str(folder), loop=False, rate_hz=20, max_parts=22)
    config = dataclasses.replace(config, cameras=[cam])
    peers = PeerSockets(config)
    part_seen = peers.open("actuator", "part_seen")
    frames = peers.open("detector", "frames")
    alarms = peers.open("actuator", "alarms")
    service = CameraService(config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: service.counters["triggered"] >= 22, 30, "22 parts triggered")
        seen = [recv_message(part_seen) for _ in range(22)]
        rings = StationRings(config)
        header, pixels = recv_frame(frames, read_ring=rings.read)
        rings.close()
        assert frames.poll(500) == 0, "no other frame was sent"
        refused = []
        while len(refused) < 21 and alarms.poll(5000):
            message = recv_message(alarms)
            if isinstance(message, Alarm) and message.code == "image_refused":
                refused.append(message)
        ring_bytes = ring_path(config.station.state_dir, cam.name).stat().st_size
    finally:
        service.stop()
        thread.join(30)
        peers.close()
    assert [s.part_id for s in seen] == list(range(1, 23)), "every image is a part, the refused ones too"
    assert header.part_id == 22 and header.source.endswith("c_whole.png") and pixels.shape == (480, 640)
    assert [a.part_id for a in refused] == list(range(1, 22))
    for i, alarm in enumerate(refused[:20]):
        assert f"a_{i:02d}.jpg is damaged" in alarm.text and "premature end of data segment" in alarm.text, alarm.text
    assert "b_huge.png is 10000x10000" in refused[20].text and "cameras[].max_frame_mb" in refused[20].text
    assert service.counters["images_refused"] == 21
    assert ring_bytes < 16 * 640 * 480 * 2, f"the ring holds 640 x 480 frames, not 10000 x 10000 ones ({ring_bytes} bytes)"

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

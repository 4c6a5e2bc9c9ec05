"""Input no model should judge, and messages no service should choke on, on a running line.

The test plays the camera (and, for the oversized and nested messages, a
buggy detector), holding those services' keys; the rest of the line is real.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.messages import PartSeen
from inspector.synthetic import PartGenerator
from inspector.transport import send_frame, send_message
from tests.helpers import PeerSockets, header_for, wait_until

pytestmark = pytest.mark.slow


def part(seed: int) -> np.ndarray:
    return np.ascontiguousarray(PartGenerator(seed=seed).part(0).image)


def test_blank_saturated_frozen_and_degenerate_frames_are_failed_safe_with_the_reason(line_config, tmp_path):
    config = line_config(budget_ms=1500)
    config = dataclasses.replace(config, transport=dataclasses.replace(config.transport, max_frame_mb=4))
    good = part(3)
    saturated = good.copy()
    saturated[:, : good.shape[1] * 3 // 4] = 255
    middle = good.shape[0] // 2
    ribbon = np.ascontiguousarray(np.tile(good[middle - 8 : middle + 8, :], (1, 2))[:, :1024])  # 16 x 1024: legal, awkward
    frames_by_part = {
        1: good,
        2: np.zeros_like(good),  # lens cap
        3: np.full_like(good, 255),  # blinded
        4: saturated,
        5: part(4), 6: part(4), 7: part(4),  # the camera repeats its buffer
        8: ribbon,
        9: part(5),
    }
    camera = PeerSockets(config)
    frames = camera.open("camera", "frames")
    part_seen = camera.open("camera", "part_seen")
    try:
        with running_line(config, tmp_path, without=("camera:",)) as supervisor:
            detector = supervisor.process("detector:0")
            wait_until(lambda: detector.last_beat, 60, "the detector to be ready")
            time.sleep(0.3)
            for part_id, image in frames_by_part.items():
                header = header_for(part_id, image)
                send_message(part_seen, PartSeen(header.station, header.camera, part_id, part_id, header.t_trigger), block=True)
                assert send_frame(frames, header, image)
                time.sleep(0.1)
            # 10: a frame bigger than transport.max_frame_mb, then 11: a good one, inspected as ever
            big = np.zeros((2400, 2400), np.uint8)
            for part_id, image in ((10, big), (11, good)):
                header = header_for(part_id, image)
                send_message(part_seen, PartSeen(header.station, header.camera, part_id, part_id, header.t_trigger), block=True)
                assert send_frame(frames, header, image)
            rows = wait_until(lambda: len(part_rows(config)) >= 11 and part_rows(config), 60, "11 decided parts")
            alarms = wait_until(lambda: [a for a in alarm_rows(config) if a["code"] == "image_gate"], 20, "the gate alarm")
            assert detector.restarts == 0 and detector.running
    finally:
        camera.close()
    by_part = {r["part_id"]: r for r in rows}
    for part_id in (1, 5, 6, 8, 9, 11):
        assert by_part[part_id]["source"] == "verdict", (part_id, by_part[part_id]["reason"])
    expected = {2: "blank frame", 3: "blank frame", 4: "saturated frame: 75% of pixels", 7: "frozen camera: the same frame 3 times"}
    for part_id, words in expected.items():
        assert (by_part[part_id]["result"], by_part[part_id]["source"]) == ("FAILSAFE_REJECT", "detector_error")
        assert words in by_part[part_id]["reason"]
    assert (by_part[10]["result"], by_part[10]["source"]) == ("FAILSAFE_REJECT", "detector_error")
    assert "frame of 5760000 bytes refused: transport.max_frame_mb allows 4194304" in by_part[10]["reason"]
    assert any("camera top: blank frame" in a["text"] and a["severity"] == "critical" for a in alarms)


def test_oversized_and_deeply_nested_messages_do_not_stop_the_actuator_or_the_recorder(line_config, tmp_path):
    parts = 15
    config = line_config(parts=parts, rate_hz=5)
    buggy = PeerSockets(config)
    verdicts = buggy.open("detector", "verdicts")
    decisions = buggy.open("actuator", "decisions")
    try:
        with running_line(config, tmp_path) as supervisor:
            wait_until(lambda: len(part_rows(config)) >= 2, 60, "the line deciding parts")
            nested = b"[" * 50_000 + b"]" * 50_000
            for sock, kind in ((verdicts, b"verdict"), (decisions, b"decision")):
                sock.send_multipart([kind, nested])
                sock.send_multipart([kind, b'{"part_id": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'])
                sock.send_multipart([kind, b"x" * (300 * 1024 * 1024)], copy=False)  # 300 MiB
            rows = wait_until(lambda: len(part_rows(config)) >= parts and part_rows(config), 90, f"{parts} decided parts")
            actuator, recorder = supervisor.process("actuator"), supervisor.process("recorder")
            assert actuator.restarts == 0 and recorder.restarts == 0
            assert actuator.counters.get("malformed_messages", 0) >= 1
    finally:
        buggy.close()
    assert [r["part_id"] for r in rows] == list(range(1, parts + 1))
    assert {r["source"] for r in rows} == {"verdict"}, "no part waited past its deadline behind a huge message"

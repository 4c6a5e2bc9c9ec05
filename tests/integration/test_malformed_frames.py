"""Frames a broken camera or a bad network could send: counted, logged, fail-safe, and the detector lives on."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from inspector.messages import FRAME_KIND, PartSeen, encode_header
from inspector.synthetic import PartGenerator
from inspector.transport import send_frame, send_message
from tests.helpers import PeerSockets, header_for, wait_until
from inspector.line_runner import part_rows, running_line

pytestmark = pytest.mark.slow


def test_malformed_frames_are_counted_fail_safe_and_do_not_stop_the_detector(line_config, tmp_path):
    config = line_config(budget_ms=1500)
    image = np.ascontiguousarray(PartGenerator(seed=3).part(0).image)
    camera = PeerSockets(config)  # the test is the camera, holding the camera's key
    frames = camera.open("camera", "frames")
    part_seen = camera.open("camera", "part_seen")
    try:
        with running_line(config, tmp_path, without=("camera:",)) as supervisor:
            detector = supervisor.process("detector:0")
            wait_until(lambda: detector.last_beat, 60, "the detector to be ready")
            time.sleep(0.3)  # let the detector's connection to our frame socket settle
            bad_header = [FRAME_KIND, b"{not json", image]
            wrong_size = [FRAME_KIND, encode_header(header_for(3, image)), image[:100]]
            unknown_dtype = [FRAME_KIND, encode_header(header_for(4, image, dtype="float64")), image]
            unknown_field = [FRAME_KIND, json.dumps({"part_id": 5, "colour": "red"}).encode(), image]
            for part_id in range(1, 7):
                header = header_for(part_id, image)
                send_message(part_seen, PartSeen(header.station, header.camera, part_id, part_id, header.t_trigger), block=True)
                if part_id in (1, 6):
                    assert send_frame(frames, header, image)
                else:
                    message = {2: bad_header, 3: wrong_size, 4: unknown_dtype, 5: unknown_field}[part_id]
                    frames.send_multipart(message, copy=False)
            rows = wait_until(lambda: len(part_rows(config)) >= 6 and part_rows(config), 30, "6 decided parts")
            wait_until(lambda: detector.counters.get("malformed_frames") == 4, 10, "the detector to report 4 malformed frames")
            assert detector.restarts == 0 and detector.running, "the detector survives bad frames"
    finally:
        camera.close()
    by_part = {r["part_id"]: r for r in rows}
    assert sorted(by_part) == [1, 2, 3, 4, 5, 6]
    assert by_part[1]["source"] == by_part[6]["source"] == "verdict"
    # a frame whose header names its part is fail-safed at once, with the reason
    for part_id in (3, 4):
        assert by_part[part_id]["result"] == "FAILSAFE_REJECT"
        assert by_part[part_id]["source"] == "detector_error"
    assert "pixel buffer has 64000 bytes" in by_part[3]["reason"]
    assert "unknown dtype 'float64'" in by_part[4]["reason"]
    # a frame whose part cannot be read is fail-safed at its deadline
    for part_id in (2, 5):
        assert by_part[part_id]["result"] == "FAILSAFE_REJECT"
        assert by_part[part_id]["source"] == "deadline"
    log = (tmp_path / "logs" / "detector-0.log").read_text()
    assert log.count("malformed frame") == 4

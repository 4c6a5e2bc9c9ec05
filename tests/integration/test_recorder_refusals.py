"""The recorder keeps the first record of a part: a second one is refused, its image removed, and an event raised.

A real recorder service in a thread, fed through real ZeroMQ sockets bound and
connected where the detector and the actuator have theirs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.messages import Alarm, encode, encode_header
from inspector.records.parts import every_row
from inspector.services.detector import INSPECTION_KIND
from inspector.services.recorder import RecorderService
from inspector.transport import recv_message
from tests.helpers import PeerSockets, header_for
from tests.unit.factories import a_verdict

pytestmark = pytest.mark.slow


def test_a_second_inspection_record_for_a_part_is_refused_its_image_removed_and_decision_refused_raised(line_config):
    config = line_config()
    ends = PeerSockets(config)
    inspections = ends.open("detector", "inspections")
    alarms = ends.open("actuator", "alarms")  # the actuator keeps the board: the recorder's alarms come here
    recorder = RecorderService(config)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    first_pixels, second_pixels = np.full((64, 64), 40, np.uint8), np.full((64, 64), 200, np.uint8)
    first = a_verdict(part_id=5, t_trigger=1000.0)
    second = a_verdict(part_id=5, t_trigger=1000.0, result="PASS", model_version="forged", detections=[], reason="")
    refusal = None
    try:
        for verdict, pixels in ((first, first_pixels), (second, second_pixels)):
            header = header_for(5, pixels, t_trigger=verdict.t_trigger)
            inspections.send_multipart([INSPECTION_KIND, encode(verdict)[1], encode_header(header), pixels])
        deadline = time.monotonic() + 30
        while refusal is None and time.monotonic() < deadline:
            if alarms.poll(200):
                message = recv_message(alarms)
                if isinstance(message, Alarm) and message.code == "decision_refused":
                    refusal = message
    finally:
        recorder.stop()
        thread.join(30)
        ends.close()
    assert refusal is not None, "no decision_refused event"
    assert (refusal.kind, refusal.source) == ("event", "recorder")
    assert "0 decision(s) and 1 inspection record(s) refused" in refusal.text and "top:5" in refusal.text
    (row,) = every_row(config.recorder.database)
    assert (row["verdict_result"], row["model_version"]) == ("REJECT", first.model_version), "the first record is kept"
    images = sorted(Path(config.recorder.image_dir).rglob("*.png"))
    assert images == [Path(row["image_path"])], "the refused record's image is not kept"
    assert images[0].name == "0000000005.png"
    assert np.array_equal(cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED), first_pixels), "the first image as it was"
    assert recorder.counters["inspections_refused"] == 1

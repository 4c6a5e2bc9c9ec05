"""The line with a Basler camera: the pylon emulator serving magnetic-tile images, real processes and sockets.

PYLON_CAMEMU is set before pypylon is first used, so the camera service (a child
process of the supervisor, or a thread of this test) finds two emulated cameras.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

os.environ.setdefault("PYLON_CAMEMU", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from inspector.config.schema import CameraRoi, Config  # noqa: E402
from inspector.line_runner import alarm_rows, part_rows, running_line  # noqa: E402
from inspector.services.camera import CameraService  # noqa: E402
from tests.helpers import wait_until  # noqa: E402
from tests.unit.test_camera_basler import tile_folder  # noqa: E402

pytestmark = pytest.mark.slow

TILES_SERVED = 5


def basler_line(config: Config, folder: Path, **camera) -> Config:
    """``config`` with its camera replaced by an emulated Basler camera serving ``folder``; every image kept."""
    cam = dataclasses.replace(
        config.cameras[0],
        driver="basler",
        pixel_format="Mono8",
        exposure_us=1000,
        roi=CameraRoi(width=640, height=400),
        emulator_images=str(folder),
        **camera,
    )
    return dataclasses.replace(config, cameras=[cam], recorder=dataclasses.replace(config.recorder, sample_passes=1.0))


def served_index(image_path: str, tiles: list[np.ndarray]) -> int:
    stored = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    matches = [i for i, tile in enumerate(tiles) if tile.shape == stored.shape and np.array_equal(tile, stored)]
    assert len(matches) == 1, f"{image_path} is not exactly one of the served tiles"
    return matches[0]


def test_tiles_served_by_the_emulated_camera_reach_the_recorder_intact_and_in_part_order(line_config, tmp_path):
    folder, files = tile_folder(tmp_path, TILES_SERVED)
    tiles = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]
    config = basler_line(line_config(parts=12, rate_hz=5), folder)
    with running_line(config, tmp_path) as supervisor:
        rows = wait_until(lambda: len(part_rows(config)) >= 12 and part_rows(config), 120, "12 decided parts")
        assert all(p.restarts == 0 for p in supervisor.processes)
    assert [r["part_id"] for r in rows] == list(range(1, 13))
    assert {r["source"] for r in rows} == {"verdict"}, "every software-triggered grab reached the detector"
    assert all(r["frame_source"].startswith("basler:0815-0000#") for r in rows)
    # part k was served tile (k-1) mod 5, byte for byte, and stored under part k
    assert [served_index(r["image_path"], tiles) for r in rows] == [(k - 1) % TILES_SERVED for k in range(1, 13)]


def test_a_camera_closed_under_the_running_service_raises_an_alarm_is_reopened_and_every_part_is_decided(line_config, tmp_path):
    folder, files = tile_folder(tmp_path, TILES_SERVED)
    tiles = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]
    config = basler_line(line_config(parts=40, rate_hz=5), folder, reconnect_backoff_initial_s=1.0)
    with running_line(config, tmp_path, without=("camera",)) as supervisor:
        wait_until(lambda: all(p.last_beat for p in supervisor.processes if p.sends_heartbeats), 120, "detector, actuator and recorder ready")
        service = CameraService(config)  # in this process, so the test can pull the camera from under it
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: len(part_rows(config)) >= 10, 120, "10 decided parts")
            service.driver._camera.Close()  # the camera goes away while the service grabs
            wait_until(lambda: service.counters["camera_reopened"] == 1, 60, "the camera to be reopened")
            rows = wait_until(lambda: len(part_rows(config)) >= 40 and part_rows(config), 120, "40 decided parts")
            counters = dict(service.counters)
        finally:
            service.stop()
            thread.join(30)
        recorded_alarms = alarm_rows(config)
    assert not thread.is_alive()
    assert [r["part_id"] for r in rows] == list(range(1, 41)), "every triggered part decided exactly once"
    failsafe = [r["part_id"] for r in rows if r["result"] == "FAILSAFE_REJECT"]
    assert counters["camera_lost"] == 1 and counters["parts_while_camera_lost"] >= 1
    assert len(failsafe) == counters["parts_while_camera_lost"] + 1, "the part being grabbed when it went, and each part while it was away"
    assert failsafe == list(range(failsafe[0], failsafe[-1] + 1)), "one outage: consecutive parts"
    assert all(r["source"] == "deadline" for r in rows if r["part_id"] in failsafe)
    assert {r["source"] for r in rows if r["part_id"] not in failsafe} == {"verdict"}
    # identity: before the outage part k has tile (k-1) mod 5; after it the tiles follow on part by part
    before = [r for r in rows if r["part_id"] < failsafe[0]]
    after = [r for r in rows if r["part_id"] > failsafe[-1]]
    assert [served_index(r["image_path"], tiles) for r in before] == [(r["part_id"] - 1) % TILES_SERVED for r in before]
    first = served_index(after[0]["image_path"], tiles)
    assert [served_index(r["image_path"], tiles) for r in after] == [(first + i) % TILES_SERVED for i in range(len(after))]
    lost, back = [a for a in recorded_alarms if a["code"] == "camera_lost"]
    assert (lost["active"], lost["severity"], lost["source"]) == (1, "critical", "camera:top")
    assert (back["active"], back["kind"], back["source"]) == (0, "condition", "camera:top") and "reopened" in back["text"]

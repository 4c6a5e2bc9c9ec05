"""Image health checked on live frames: a darkened camera raises an alarm in the running line."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from calibration.health import build_reference, save_reference
from calibration.station import calibration_paths
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.synthetic import PartGenerator
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def test_a_camera_going_dark_raises_an_exposure_alarm(line_config, tmp_path):
    clean = PartGenerator(seed=3, defect_rate=0.0).part(0).image
    dark = (clean * 0.4).astype(np.uint8)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(30):  # one second of clean frames at 10 parts/s, then a lamp failure
        cv2.imwrite(str(frames / f"{i:03d}.png"), clean if i < 10 else dark)
    config = line_config(parts=30, rate_hz=10)
    camera = dataclasses.replace(config.cameras[0], driver="folder", folder=str(frames), loop=False)
    health = dataclasses.replace(config.calibration.health, period_s=1.0)
    config = dataclasses.replace(
        config, cameras=[camera], calibration=dataclasses.replace(config.calibration, health=health)
    )
    save_reference(build_reference(camera.name, [clean], health), calibration_paths(config).folder)

    with running_line(config, tmp_path):
        wait_until(lambda: len(part_rows(config)) >= 30, 90, "30 decided parts")
        alarms = wait_until(
            lambda: [a for a in alarm_rows(config) if a["code"].startswith("image_health.")], 10, "an image-health alarm"
        )
    codes = {a["code"] for a in alarms if a["active"]}
    assert "image_health.exposure" in codes
    assert "image_health.focus" not in codes, "darkening is not blur"

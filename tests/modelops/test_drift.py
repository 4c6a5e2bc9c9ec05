"""Drift alarms: a brightness shift, a score distribution that moved, a reject rate that moved.

On the line (real processes, the folder camera replaying synthetic parts whose lighting brightens by 40 grey
levels from part 31 on) the brightness alarm is raised within ``window_parts`` parts of the shift, and not
before it. In-process, each measure against its limit.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from inspector.alarms.owner import AlarmOwner
from inspector.config.schema import DriftConfig
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.messages import Alarm
from inspector.modelops.drift import DriftMonitor, psi
from inspector.synthetic.parts import PartGenerator
from tests.helpers import wait_until

SHIFT = 40  # grey levels added to every part from the shift on


def brighter(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(np.int16) + SHIFT, 0, 255).astype(np.uint8)


def test_psi_is_near_zero_for_one_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    reference = rng.normal(0.3, 0.1, 2000)
    assert psi(reference, rng.normal(0.3, 0.1, 2000)) < 0.02
    assert psi(reference, rng.normal(0.6, 0.1, 2000)) > 1.0
    assert psi(reference, []) == 0.0


def detector_alarms(take) -> AlarmOwner:
    """The detector's alarm owner, its messages handed to ``take`` (each drift alarm is the camera's)."""
    def send(message) -> bool:
        if isinstance(message, Alarm):
            assert message.source == "camera:top" and message.owner == "detector:0"
            take(message)
        return True

    return AlarmOwner("station-1", "detector:0", send)


def test_a_brightness_shift_alarms_within_the_window_and_clears_when_the_light_is_back():
    config = DriftConfig(reference_parts=20, window_parts=10, max_score_psi=100, max_reject_rate_change=1)
    alarms: list = []
    monitor = DriftMonitor(config, detector_alarms(lambda a: alarms.append((a.code, a.severity, a.active, a.part_id))))
    generator = PartGenerator(seed=5)
    for part in range(1, 31):
        monitor.observe("top", generator.part(part).image, 0.1, False, part)
    assert alarms == [], "no drift while the light is as in the reference"
    for part in range(31, 41):
        monitor.observe("top", brighter(generator.part(part).image), 0.1, False, part)
    assert [(c, s, a) for c, s, a, _ in alarms] == [("drift_brightness", "warning", True)]
    assert 31 <= alarms[0][3] <= 40, "raised within window_parts (10) parts of the shift"
    for part in range(41, 61):
        monitor.observe("top", generator.part(part).image, 0.1, False, part)
    assert [(c, a) for c, _, a, _ in alarms] == [("drift_brightness", True), ("drift_brightness", False)]


def test_scores_and_reject_rate_drift_against_the_gate_distribution_and_the_reference_parts():
    config = DriftConfig(reference_parts=20, window_parts=20, max_brightness_shift=255, max_contrast_change=100)
    alarms: list = []
    rng = np.random.default_rng(1)
    gate = list(rng.uniform(0.0, 0.4, 200))
    monitor = DriftMonitor(config, detector_alarms(lambda a: alarms.append(a.code)), gate)
    frame = np.full((480, 640), 100, np.uint8)
    for part in range(20):
        monitor.observe("top", frame, float(rng.uniform(0.0, 0.4)), part % 4 == 0, part)
    assert alarms == []
    for part in range(20, 40):
        monitor.observe("top", frame, float(rng.uniform(0.6, 0.9)), True, part)  # a new defect kind: high scores, rejects
    assert sorted(alarms) == ["drift_reject_rate", "drift_scores"]


def test_a_slower_model_raises_the_latency_alarm():
    config = DriftConfig(reference_parts=10, window_parts=10, max_latency_increase=0.5, max_score_psi=100)
    alarms: list = []
    monitor = DriftMonitor(config, detector_alarms(lambda a: alarms.append((a.code, a.active))))
    frame = np.full((480, 640), 100, np.uint8)
    for part in range(10):
        monitor.observe("top", frame, 0.1, False, part, latency_ms=40.0)
    for part in range(10, 14):
        monitor.observe("top", frame, 0.1, False, part, latency_ms=45.0)
    assert alarms == [], "12 % slower is within the limit"
    for part in range(14, 24):
        monitor.observe("top", frame, 0.1, False, part, latency_ms=90.0)
    assert alarms == [("drift_latency", True)]
    monitor.new_model()  # a swap: a new reference, the alarm stays until a measure says otherwise
    for part in range(24, 44):
        monitor.observe("top", frame, 0.1, False, part, latency_ms=90.0)
    assert alarms == [("drift_latency", True), ("drift_latency", False)]


@pytest.mark.slow
def test_a_brightness_shift_from_the_camera_raises_the_drift_alarm_on_the_line_within_the_window(line_config, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    generator = PartGenerator(seed=2024)
    for index in range(1, 51):
        image = generator.part(index).image
        cv2.imwrite(str(folder / f"part_{index:04d}.png"), brighter(image) if index > 30 else image)
    config = line_config(parts=50, rate_hz=8)
    camera = dataclasses.replace(config.cameras[0], driver="folder", folder=str(folder), loop=False)
    drift = DriftConfig(reference_parts=20, window_parts=10, max_score_psi=100, max_reject_rate_change=1)
    config = dataclasses.replace(config, cameras=[camera], drift=drift)

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: len(part_rows(config)) >= 50, 180, "50 decided parts")
        alarm = wait_until(lambda: [a for a in alarm_rows(config) if a["code"] == "drift_brightness"], 30, "the drift alarm")
    assert alarm[0]["severity"] == "warning" and alarm[0]["active"] == 1
    assert "mean brightness moved" in alarm[0]["text"]
    assert 31 <= alarm[0]["part_id"] <= 40, "raised within window_parts (10) parts of the shift, not before it"

"""Image health: blur, darkening, over-exposure and uneven lighting are each flagged; clean images pass.

The view is a fixed reference target (random shapes, 320 x 240, grey levels
60..170) with sensor noise; the reference is taken from one frame of it and
the "clean" frame is the same view with fresh noise and a one-pixel shift.
Limits are the config defaults: focus at least 60 % of the reference,
brightness within ±20 %, at most 1 % more clipped pixels, lighting profile
(4 x 4 blocks) within 0.10.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration import CalibrationError
from calibration.health import HealthMonitor, build_reference, check_health, load_reference, save_reference
from inspector.config.schema import HealthLimits

LIMITS = HealthLimits()


def target_scene(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scene = np.full((240, 320), 110.0, np.float32)
    for _ in range(60):
        x, y = int(rng.integers(0, 300)), int(rng.integers(0, 220))
        grey = float(rng.uniform(60, 170))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))), grey, -1)
        else:
            cv2.circle(scene, (x, y), int(rng.integers(3, 20)), grey, -1)
    return scene


def frame(scene: np.ndarray, seed: int, shift: int = 0) -> np.ndarray:
    noisy = np.roll(scene, shift, axis=1) + np.random.default_rng(seed).normal(0, 2.0, scene.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return target_scene()


@pytest.fixture(scope="module")
def reference(scene):
    return build_reference("top", [frame(scene, seed=0)], LIMITS)


def failed_checks(image: np.ndarray, reference) -> list[str]:
    return check_health(image, reference, LIMITS).failed


def test_a_clean_frame_of_the_reference_view_passes_every_check(scene, reference):
    report = check_health(frame(scene, seed=1, shift=1), reference, LIMITS)
    assert report.ok, [f.text for f in report.findings]
    assert [f.check for f in report.findings] == ["focus", "exposure", "uniformity"]


def test_blur_is_flagged_as_focus_only(scene, reference):
    blurred = cv2.GaussianBlur(frame(scene, seed=2), (0, 0), 2.0)
    assert failed_checks(blurred, reference) == ["focus"]


def test_darkening_is_flagged_as_exposure_only(scene, reference):
    dark = (frame(scene, seed=3).astype(np.float32) * 0.5).astype(np.uint8)
    assert failed_checks(dark, reference) == ["exposure"]


def test_over_exposure_that_clips_is_flagged_as_exposure(scene, reference):
    bright = np.clip(frame(scene, seed=4).astype(np.float32) * 1.8, 0, 255).astype(np.uint8)
    report = check_health(bright, reference, LIMITS)
    assert "exposure" in report.failed
    assert report.measures.clipped_bright > 0.05


def test_uneven_lighting_is_flagged_as_uniformity(scene, reference):
    """Light falling from 130 % on the left to 70 % on the right: the mean is unchanged, the profile is not."""
    gradient = np.linspace(1.3, 0.7, 320, dtype=np.float32)[None, :]
    uneven = np.clip(frame(scene, seed=5).astype(np.float32) * gradient, 0, 255).astype(np.uint8)
    assert failed_checks(uneven, reference) == ["uniformity"]


def test_each_finding_says_what_was_measured_against_what_limit(scene, reference):
    blurred = cv2.GaussianBlur(frame(scene, seed=2), (0, 0), 2.0)
    focus = check_health(blurred, reference, LIMITS).findings[0]
    assert focus.check == "focus" and not focus.ok
    assert "of the reference (at least 60%)" in focus.text


def test_a_reference_taken_with_other_settings_is_refused(scene, reference):
    with pytest.raises(CalibrationError, match="take a new reference"):
        check_health(frame(scene, seed=1), reference, HealthLimits(grid=8))


def test_the_reference_is_stored_beside_the_calibration_and_read_back(tmp_path, reference):
    path = save_reference(reference, tmp_path)
    assert path.name == "top.health.json"
    assert load_reference(tmp_path, "top") == reference
    with pytest.raises(CalibrationError, match="inspector calibrate health-reference"):
        load_reference(tmp_path, "side")


def test_a_region_of_interest_limits_the_checks_to_that_region(scene):
    limits = HealthLimits(roi=[0, 0, 160, 240])
    reference = build_reference("top", [frame(scene, seed=0)], limits)
    right_half_blurred = frame(scene, seed=1)
    right_half_blurred[:, 160:] = cv2.GaussianBlur(right_half_blurred[:, 160:], (0, 0), 3.0)
    assert check_health(right_half_blurred, reference, limits).ok


# -- the periodic checker ------------------------------------------------------------------


def test_monitor_checks_at_start_then_every_period_raising_and_clearing_alarms(scene, reference):
    limits = HealthLimits(period_s=60.0)
    monitor = HealthMonitor("station-1", "top", reference, limits)
    clean = frame(scene, seed=1)
    blurred = cv2.GaussianBlur(frame(scene, seed=2), (0, 0), 2.0)

    assert monitor.observe(clean, t=1000.0) == []  # checked at start: healthy, nothing to say
    assert monitor.last_report is not None and monitor.last_report.ok
    assert monitor.observe(blurred, t=1030.0) == []  # not due yet: not checked

    raised = monitor.observe(blurred, t=1060.0)
    assert [(a.code, a.active, a.severity, a.source) for a in raised] == [("image_health.focus", True, "warning", "camera:top")]
    assert "focus out of limits" in raised[0].text
    assert monitor.active == {"image_health.focus"}

    assert monitor.observe(blurred, t=1120.0) == []  # still blurred: raised once, not repeated

    cleared = monitor.observe(clean, t=1180.0)
    assert [(a.code, a.active) for a in cleared] == [("image_health.focus", False)]
    assert monitor.active == set()

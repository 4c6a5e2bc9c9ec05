"""The detector of a running line (real processes) keeps the drift series the HMI plots: every
``drift.series_every_parts`` parts per camera, once reference and window are full, in drift.db beside the database."""

from __future__ import annotations

import dataclasses
import math

import pytest

from inspector.line_runner import part_rows, running_line
from inspector.modelops.drift_series import drift_series_path, read_drift_series
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def test_a_running_detector_appends_drift_points_every_nth_part_once_the_window_is_full(line_config, tmp_path):
    config = line_config(parts=40, rate_hz=10)
    drift = dataclasses.replace(config.drift, reference_parts=5, window_parts=5, series_every_parts=3)
    config = dataclasses.replace(config, drift=drift)
    path = drift_series_path(config)
    with running_line(config, tmp_path / "run"):
        wait_until(lambda: len(part_rows(config)) >= 40, 180, "40 decided parts")
    points = read_drift_series(path)["top"]
    decided = {r["part_id"] for r in part_rows(config)}
    assert 8 <= len(points) <= 40 // 3, "one point every third part, from the part that fills reference and window"
    assert {p.part_id for p in points} <= decided
    assert [p.part_id for p in points] == sorted(p.part_id for p in points)
    for p in points:
        assert math.isfinite(p.values["brightness"]) and p.values["brightness"] >= 0
        assert p.values["contrast"] is not None and p.values["reject_rate"] is not None

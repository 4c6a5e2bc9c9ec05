"""``inspector camera list`` and ``inspector camera snap``, run as the integrator runs them."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import cv2
import numpy as np

from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.config.schema import CameraConfig, CameraRoi
from tests.unit.test_camera_basler import tile_files


def inspector(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYLON_CAMEMU": "2"}
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True, env=env, timeout=120)


def station_file(tmp_path, *cameras: CameraConfig):
    config = dataclasses.replace(load_config(DEFAULT_CONFIG), cameras=list(cameras))
    path = tmp_path / "station.yaml"
    write_config(config, path)
    return path


def test_camera_list_shows_every_emulated_basler_camera_and_why_genicam_shows_none():
    run = inspector("camera", "list")
    assert run.returncode == 0, run.stderr
    assert "basler: 0815-0000" in run.stdout and "basler: 0815-0001" in run.stdout
    assert "genicam: no camera with a GenTL producer" in run.stdout


def test_camera_list_reports_a_missing_producer_of_a_configured_genicam_camera(tmp_path):
    missing = tmp_path / "Producer.cti"
    config = station_file(tmp_path, CameraConfig(name="side", driver="genicam", producer=str(missing)))
    run = inspector("camera", "list", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert f"genicam: cannot list cameras: camera side: GenTL producer file {missing} does not exist" in run.stdout


def test_camera_snap_saves_one_frame_taken_with_the_station_settings(tmp_path):
    tile = tile_files(1)[0]
    top = CameraConfig(name="top", driver="synthetic")
    side = CameraConfig(name="side", driver="basler", serial="0815-0001", pixel_format="Mono8", exposure_us=1200,
                        roi=CameraRoi(width=640, height=400), emulator_images=str(tile))
    out = tmp_path / "snaps" / "side.png"
    run = inspector("camera", "snap", "--config", str(station_file(tmp_path, top, side)), "--camera", "side", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.imread(str(tile), cv2.IMREAD_UNCHANGED))
    assert "exposure_us: 1200.0" in run.stdout and "serial: 0815-0001" in run.stdout


def test_camera_snap_of_a_camera_that_cannot_open_is_an_error_not_a_file(tmp_path):
    config = station_file(tmp_path, CameraConfig(name="side", driver="genicam"))
    out = tmp_path / "side.png"
    run = inspector("camera", "snap", "--config", str(config), "--out", str(out))
    assert run.returncode == 2
    assert "config field 'cameras[0].producer'" in run.stderr and not out.exists()

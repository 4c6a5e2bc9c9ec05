"""The Basler driver against the pylon camera emulator (PYLON_CAMEMU=2: two emulated cameras)."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("PYLON_CAMEMU", "2")  # before pypylon's transport layer is first created

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from camera_drivers import make_driver  # noqa: E402
from camera_drivers.base import CameraLost, GrabTimeout, IncompleteGrab  # noqa: E402
from camera_drivers.basler import BaslerCamera  # noqa: E402
from inspector.config.schema import CameraConfig, CameraRoi  # noqa: E402
from inspector.errors import CameraError  # noqa: E402
from tests.conftest import SHARED_DATASETS  # noqa: E402

TILES = SHARED_DATASETS / "magnetic_tile" / "MT_Crack" / "Imgs"


def tile_files(n: int) -> list[Path]:
    files = sorted(TILES.glob("*.jpg"))[:n]
    assert len(files) == n, f"the magnetic-tile dataset is expected under {TILES}"
    return files


def tile_folder(tmp_path: Path, n: int) -> tuple[Path, list[Path]]:
    """A folder of links to ``n`` magnetic-tile images (the emulator serves a folder in name order)."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    files = tile_files(n)
    for f in files:
        (folder / f.name).symlink_to(f)
    return folder, files


def basler(**overrides) -> CameraConfig:
    return CameraConfig(name="top", driver="basler", grab_timeout_ms=2000, **overrides)


def test_both_emulated_cameras_are_listed_by_serial():
    devices = BaslerCamera.list_devices()
    assert [d.id for d in devices] == ["0815-0000", "0815-0001"]
    assert all(d.driver == "basler" and "Emulation" in d.model for d in devices)


def test_exposure_gain_pixel_format_roi_and_software_trigger_are_applied():
    config = basler(serial="0815-0001", exposure_us=2500, gain_db=6, pixel_format="Mono12", roi=CameraRoi(width=320, height=240, x=16, y=8))
    with make_driver(config) as cam:
        settings = cam.settings()
        grab = cam.capture()
    assert settings["serial"] == "0815-0001"
    assert settings["exposure_us"] == pytest.approx(2500)
    assert settings["gain_db"] == pytest.approx(6, abs=0.01)
    assert settings["pixel_format"] == "Mono12"
    assert settings["roi"] == {"width": 320, "height": 240, "x": 16, "y": 8}
    assert settings["camera_trigger"] == "On (Software)"
    assert (grab.pixel_format, grab.pixels.dtype, grab.pixels.shape) == ("Mono16", np.uint16, (240, 320))
    assert grab.pixels.max() < 4096, "12-bit values in 16-bit pixels"


def test_an_image_file_served_by_the_emulator_arrives_intact():
    tile = tile_files(1)[0]
    config = basler(pixel_format="Mono8", roi=CameraRoi(width=640, height=400), emulator_images=str(tile))
    with make_driver(config) as cam:
        grab = cam.capture()
    assert grab.pixel_format == "Mono8"
    assert np.array_equal(grab.pixels, cv2.imread(str(tile), cv2.IMREAD_UNCHANGED))


def test_software_triggers_get_the_served_images_in_order(tmp_path):
    folder, files = tile_folder(tmp_path, 4)
    config = basler(pixel_format="Mono8", roi=CameraRoi(width=640, height=400), emulator_images=str(folder))
    with make_driver(config) as cam:
        grabs = [cam.capture() for _ in range(5)]
    expected = [cv2.imread(str(files[i % 4]), cv2.IMREAD_UNCHANGED) for i in range(5)]
    assert all(np.array_equal(g.pixels, e) for g, e in zip(grabs, expected))
    assert [g.frame_id for g in grabs] == list(range(grabs[0].frame_id, grabs[0].frame_id + 5))


def test_without_a_trigger_there_is_no_frame():
    with make_driver(basler()) as cam:
        with pytest.raises(GrabTimeout):
            cam.grab(timeout_s=0.3)


def test_a_late_frame_is_counted_and_never_given_to_the_next_trigger(tmp_path):
    folder, files = tile_folder(tmp_path, 3)
    config = basler(pixel_format="Mono8", roi=CameraRoi(width=640, height=400), emulator_images=str(folder))
    with make_driver(config) as cam:
        first = cam.capture()
        cam.trigger()
        with pytest.raises(GrabTimeout):
            cam.grab(timeout_s=0)  # this part's frame comes too late for it
        time.sleep(0.3)  # ... and is in the queue when the next part is triggered
        third = cam.capture()
        assert cam.stats["late"] == 1
    assert np.array_equal(first.pixels, cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED))
    assert np.array_equal(third.pixels, cv2.imread(str(files[2]), cv2.IMREAD_UNCHANGED)), "the third part's own image"
    assert third.frame_id == first.frame_id + 2


def test_an_incomplete_buffer_is_reported_and_the_next_part_gets_its_own_frame():
    with make_driver(basler()) as cam:
        first = cam.capture()
        cam._camera.ForceFailedBufferCount.Value = 1  # the emulator's failed-buffer switch
        cam._camera.ForceFailedBuffer.Execute()
        with pytest.raises(IncompleteGrab) as info:
            cam.capture()
        after = cam.capture()
        assert cam.stats["incomplete"] == 1
    assert info.value.frame_id == first.frame_id + 1
    assert after.frame_id == first.frame_id + 2


def test_hardware_trigger_waits_on_the_configured_line():
    config = basler(trigger_mode="hardware", trigger_source="Line1", trigger_activation="FallingEdge")
    with make_driver(config) as cam:
        assert cam.settings()["camera_trigger"] == "On (Line1)"
        assert cam._camera.TriggerActivation.Value == "FallingEdge"
        with pytest.raises(CameraError, match="Line1"):
            cam.trigger()  # no software trigger in hardware mode
        with pytest.raises(GrabTimeout):
            cam.grab(timeout_s=0.3)  # nothing pulsed the line


def test_free_run_streams_and_a_trigger_takes_a_fresh_frame():
    with make_driver(basler(trigger_mode="free_run", exposure_us=1000)) as cam:
        assert cam.settings()["camera_trigger"] == "Off (free run)"
        a = cam.capture()
        b = cam.capture()
    assert b.frame_id > a.frame_id


def test_a_camera_closed_under_the_driver_is_reported_lost():
    cam = make_driver(basler())
    with cam:
        cam.capture()
        cam._camera.Close()
        with pytest.raises(CameraLost):
            cam.capture()


def test_an_unknown_serial_is_an_error_naming_the_cameras_seen():
    with pytest.raises(CameraError) as info:
        make_driver(basler(serial="4711")).open()
    assert "4711" in str(info.value) and "0815-0000" in str(info.value)


def test_a_setting_the_camera_refuses_names_the_config_field():
    with pytest.raises(CameraError, match="'roi'"):
        make_driver(basler(roi=CameraRoi(width=5000, height=100))).open()
    with pytest.raises(CameraError, match="'pixel_format'"):
        make_driver(basler(pixel_format="Mono12p")).open()  # packed: not a layout the line carries
    with pytest.raises(CameraError, match="'pixel_format'"):
        make_driver(basler(pixel_format="RGB8")).open()  # the line carries it, this camera has not got it


def test_emulator_images_that_do_not_exist_are_an_error_naming_them(tmp_path):
    missing = tmp_path / "no-such-image.png"
    with pytest.raises(CameraError, match=str(missing)):
        make_driver(basler(emulator_images=str(missing))).open()

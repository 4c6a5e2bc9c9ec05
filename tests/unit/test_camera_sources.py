"""OpenCV capture on a real video file, the GenICam driver's errors, frame matching, camera config."""

from __future__ import annotations

import importlib.util

import pytest

from camera_drivers import make_driver
from camera_drivers.base import FrameMatcher, GrabTimeout
from camera_drivers.genicam import GenICamCamera
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.loader import config_from_dict
from inspector.config.schema import CameraConfig, CameraRoi
from inspector.errors import CameraError, ConfigError
from tests.unit.test_camera_drivers import video_file


def opencv(url, **overrides) -> CameraConfig:
    return CameraConfig(name="top", driver="opencv", url=str(url), **overrides)


# -- OpenCV ------------------------------------------------------------------------------------------


def test_a_video_file_is_read_one_frame_per_trigger_and_loops(tmp_path):
    clip = video_file(tmp_path / "clip.avi", frames=3)
    with make_driver(opencv(clip)) as cam:
        values = [int(cam.capture().pixels[0, 0, 0]) for _ in range(5)]
    assert values == [0, 10, 20, 0, 10]


def test_a_video_file_without_loop_ends_with_an_error(tmp_path):
    clip = video_file(tmp_path / "clip.avi", frames=2)
    with make_driver(opencv(clip, loop=False)) as cam:
        cam.capture()
        cam.capture()
        with pytest.raises(CameraError, match="exhausted"):
            cam.capture()


def test_opencv_roi_and_mono_conversion(tmp_path):
    clip = video_file(tmp_path / "clip.avi")
    with make_driver(opencv(clip, pixel_format="Mono8", roi=CameraRoi(width=32, height=16, x=8, y=4))) as cam:
        cam.capture()
        grab = cam.capture()
    assert (grab.pixel_format, grab.pixels.shape, int(grab.pixels[0, 0])) == ("Mono8", (16, 32), 10)
    assert grab.pixels.flags.c_contiguous


def test_opencv_free_run_replays_a_file_at_the_configured_rate(tmp_path):
    clip = video_file(tmp_path / "clip.avi", frames=4)
    with make_driver(opencv(clip, trigger_mode="free_run", rate_hz=50)) as cam:
        cam.trigger()
        ids = [cam.grab().frame_id for _ in range(3)]
        assert ids == [1, 2, 3]


def test_opencv_refuses_a_missing_file_and_an_unreadable_one(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        make_driver(opencv(tmp_path / "none.avi")).open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video")
    with pytest.raises(CameraError, match="cannot open"):
        make_driver(opencv(junk)).open()


def test_opencv_refuses_a_pixel_format_it_cannot_deliver(tmp_path):
    with pytest.raises(CameraError, match="Mono12"):
        make_driver(opencv(video_file(tmp_path / "c.avi"), pixel_format="Mono12")).open()


def test_opencv_pending_frame_that_was_never_grabbed_is_counted_late(tmp_path):
    with make_driver(opencv(video_file(tmp_path / "clip.avi"))) as cam:
        cam.trigger()
        cam.trigger()  # the first trigger's frame was never collected
        grab = cam.grab()
        with pytest.raises(GrabTimeout):
            cam.grab(timeout_s=0.05)
        assert cam.stats["late"] == 1
    assert grab.frame_id == 2


# -- GenICam ---------------------------------------------------------------------------------------------


def genicam(**overrides) -> CameraConfig:
    return CameraConfig(name="side", driver="genicam", **overrides)


def test_genicam_without_a_producer_says_to_configure_one():
    with pytest.raises(CameraError) as info:
        make_driver(genicam()).open()
    assert "'producer'" in str(info.value) and ".cti" in str(info.value)


def test_genicam_with_a_missing_producer_file_names_it(tmp_path):
    missing = tmp_path / "ProducerGEV.cti"
    with pytest.raises(CameraError) as info:
        make_driver(genicam(producer=str(missing))).open()
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)


def test_genicam_with_a_file_that_is_no_producer_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.cti"
    fake.write_bytes(b"\x7fELF not really a shared library")
    with pytest.raises(CameraError) as info:
        make_driver(genicam(producer=str(fake))).open()
    if importlib.util.find_spec("harvesters") is None:
        assert "pip install 'inspector[genicam]'" in str(info.value)
    else:
        assert str(fake) in str(info.value)


def test_genicam_listing_needs_a_producer_too():
    with pytest.raises(CameraError, match="'producer'"):
        GenICamCamera.list_cameras(genicam())


# -- frame matching (the rule behind 'never another part's image') ----------------------------------------


def test_frame_matcher_accepts_each_triggers_own_frame_and_flags_late_ones():
    m = FrameMatcher()
    m.triggered()
    assert not m.is_late(7)  # the first frame sets the counter
    m.triggered()  # trigger 2: its frame (8) times out ...
    m.triggered()  # trigger 3 expects 9
    assert m.is_late(8), "frame 8 belongs to trigger 2"
    assert not m.is_late(9)
    m.triggered()  # trigger 4: frame 10 lost on the wire; trigger 5 expects 11
    m.triggered()
    assert not m.is_late(11)


def test_frame_matcher_resynchronises_on_a_counter_wrap():
    m = FrameMatcher()
    assert not m.is_late(65534)
    m.triggered()
    assert not m.is_late(1)  # 16-bit GigE block ids wrap
    m.triggered()
    assert not m.is_late(2)


# -- config ------------------------------------------------------------------------------------------------


def test_the_shipped_config_loads_with_camera_defaults():
    cam = load_config(DEFAULT_CONFIG).cameras[0]
    assert (cam.trigger_mode, cam.exposure_us, cam.roi, cam.producer) == ("software", None, None, None)


def test_camera_settings_are_typed_and_bad_values_name_the_field(tmp_path):
    base = {"detector": {"model": "m.onnx"}}
    good = config_from_dict({**base, "cameras": [{"name": "a", "driver": "basler", "exposure_us": 800, "roi": {"width": 640, "height": 480}}]}, tmp_path)
    assert good.cameras[0].roi == CameraRoi(640, 480, 0, 0)
    for camera, field in (
        ({"name": "a", "trigger_mode": "sometimes"}, "cameras[0].trigger_mode"),
        ({"name": "a", "exposure_us": -5}, "cameras[0].exposure_us"),
        ({"name": "a", "roi": {"width": 10}}, "cameras[0].roi.height"),
        ({"name": "a", "gain": 3}, "cameras[0].gain"),
    ):
        with pytest.raises(ConfigError) as info:
            config_from_dict({**base, "cameras": [camera]}, tmp_path)
        assert info.value.field == field

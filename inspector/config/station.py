"""The ``station`` and ``cameras`` sections of the station config: the station's identity, its cameras and their triggers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.typed import spec

CameraDriverName = Literal["synthetic", "folder", "opencv", "basler", "genicam"]
TriggerMode = Literal["free_run", "software", "hardware"]


@dataclass(frozen=True)
class StationConfig:
    name: str = spec("station-1", doc="Name of this inspection station; appears in every message and record.")
    state_dir: str = spec("state", doc="Folder for small state files (the part-id counter survives restarts).")
    file_group: str | None = spec(
        None,
        doc="A group that may read what the station writes (stored images, logs, model copies, the config it writes "
        "for its processes): files 0640 and folders 2750 of that group. None = the station's user only (files "
        "0600, folders 0700). Never readable by other local users. The station's user must be a member.",
    )


@dataclass(frozen=True)
class CameraRoi:
    """A region of interest on the sensor, in pixels (offsets from the top-left corner)."""

    width: int = spec(doc="ROI width in pixels (the camera may require a multiple of its width increment).", minimum=1, maximum=65535)
    height: int = spec(doc="ROI height in pixels (the camera may require a multiple of its height increment).", minimum=1, maximum=65535)
    x: int = spec(0, doc="Horizontal offset of the ROI from the sensor's left edge.", minimum=0, maximum=65535)
    y: int = spec(0, doc="Vertical offset of the ROI from the sensor's top edge.", minimum=0, maximum=65535)


@dataclass(frozen=True)
class CameraConfig:
    name: str = spec(doc="Camera name, unique within the station (for example 'top').")
    driver: CameraDriverName = spec(
        "synthetic",
        doc="Frame source: 'synthetic' parts, 'folder' replay, 'opencv' (USB camera, RTSP stream, video file), "
        "'basler' (pypylon), 'genicam' (any GenICam camera through a GenTL producer, with harvesters). See docs/cameras.md.",
    )
    rate_hz: float = spec(10.0, doc="Part rate: triggers per second (software and free-run modes; also the folder replay rate).", minimum=0.1, maximum=500)
    max_parts: int = spec(0, doc="Stop triggering after this many parts (0 = run until stopped).", minimum=0)
    width: int = spec(640, doc="Frame width in pixels the camera declares (the synthetic frames' width; sets the default of 'max_frame_mb').", minimum=320, maximum=8192)
    height: int = spec(480, doc="Frame height in pixels the camera declares (the synthetic frames' height; sets the default of 'max_frame_mb').", minimum=240, maximum=8192)
    seed: int = spec(1000, doc="Seed of the synthetic part generator (a different one from training data).")
    defect_rate: float = spec(0.5, doc="Share of synthetic parts that are defective.", minimum=0, maximum=1)
    folder: str | None = spec(None, doc="Image folder for the 'folder' driver (PNG, JPEG, BMP, TIFF).")
    loop: bool = spec(True, doc="Folder replay and video files: start again at the first image after the last.")
    trigger_mode: TriggerMode = spec(
        "software",
        doc="'software': the camera service triggers each part at 'rate_hz'; 'hardware': the camera is triggered on a "
        "line input (see 'trigger_source') and every frame is a part; 'free_run': the camera streams and each part "
        "takes the first frame after its trigger instant.",
    )
    trigger_source: str = spec("Line1", doc="Hardware trigger input of the camera (GenICam TriggerSource, for example 'Line1').")
    trigger_activation: Literal["RisingEdge", "FallingEdge"] = spec("RisingEdge", doc="Hardware trigger edge.")
    grab_timeout_ms: float = spec(
        1000.0, doc="Longest wait for a frame after its trigger; a frame arriving later is counted as late and never given to another part.", minimum=1, maximum=60000
    )
    exposure_us: float | None = spec(None, doc="Exposure time in microseconds (None = leave the camera's setting).", minimum=1)
    gain_db: float | None = spec(None, doc="Analogue gain in dB (None = leave the camera's setting).", minimum=0)
    pixel_format: str | None = spec(
        None, doc="Camera pixel format (GenICam name: Mono8, Mono12, Mono16, RGB8, BGR8, BayerRG8, ...; None = leave the camera's setting)."
    )
    roi: CameraRoi | None = spec(None, doc="Sensor region of interest (None = leave the camera's setting).")
    serial: str | None = spec(None, doc="Basler/GenICam: serial number of the camera to open (None = the first one found).")
    device_index: int = spec(0, doc="OpenCV: USB camera index (/dev/videoN) when 'url' is not set; Basler/GenICam without 'serial': index in the device list.", minimum=0)
    url: str | None = spec(None, doc="OpenCV: RTSP/HTTP stream URL or video file path (None = the USB camera 'device_index').")
    producer: str | None = spec(None, doc="GenICam: path of the GenTL producer file (.cti) supplied by the camera maker.")
    emulator_images: str | None = spec(
        None, doc="Basler camera emulator only (PYLON_CAMEMU): image file or folder the emulated camera serves instead of its test pattern."
    )
    reconnect_backoff_initial_s: float = spec(0.5, doc="Wait before the first attempt to reopen a lost camera.", minimum=0.05, maximum=60)
    reconnect_backoff_max_s: float = spec(10.0, doc="Longest wait between attempts to reopen a lost camera (doubles each failure).", minimum=0.05, maximum=600)
    max_frame_mb: float | None = spec(
        None,
        doc="Largest frame this camera may deliver, in MiB of pixels; a bigger one is refused before its pixels are "
        "decoded or copied (its part is failed safe with the reason) and the camera's shared-memory ring never grows "
        "past it. None = twice the declared width and height (or 'roi', when larger) in 16-bit colour "
        "(4 x width x height x 6 bytes: 7 MiB at 640 x 480): a camera with bigger frames declares its width and "
        "height, or sets this. Never more than transport.max_frame_mb.",
        minimum=0.01,
        maximum=2048,
    )

    def max_frame_bytes(self) -> int:
        """The camera's frame limit in bytes (``max_frame_mb``, or its default from the declared resolution)."""
        if self.max_frame_mb is not None:
            return int(self.max_frame_mb * 1024 * 1024)
        pixels = max(self.width * self.height, self.roi.width * self.roi.height if self.roi else 0)
        return 4 * pixels * 3 * 2

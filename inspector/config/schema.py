"""The station configuration: one typed section per service.

Every field carries its documentation (``doc``), which ``inspector config
explain`` prints and the shipped ``default_station.yaml`` repeats as comments.
Relative paths are resolved against the directory of the config file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.config.alarms import AlarmsConfig
from inspector.typed import spec

RELEASE_KEYS_DIR = str(Path(__file__).resolve().parents[1] / "models" / "release-keys")

CameraDriverName = Literal["synthetic", "folder", "opencv", "basler", "genicam"]
TriggerMode = Literal["free_run", "software", "hardware"]
FailsafeAction = Literal["reject", "pass", "line_stop"]
TagTypeSource = Literal["declared", "upload"]
FrameHandoff = Literal["auto", "message"]
PlcTagType = Literal["DINT", "INT", "SINT", "REAL", "BOOL"]
HmiSupervision = Literal["off", "run", "watch"]


@dataclass(frozen=True)
class StationConfig:
    name: str = spec("station-1", doc="Name of this inspection station; appears in every message and record.")
    state_dir: str = spec("state", doc="Folder for small state files (the part-id counter survives restarts).")


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
    width: int = spec(640, doc="Synthetic frame width in pixels.", minimum=320, maximum=8192)
    height: int = spec(480, doc="Synthetic frame height in pixels.", minimum=240, maximum=8192)
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


@dataclass(frozen=True)
class AdditionalModel:
    """A further model the detector runs on every frame, with its own decision settings."""

    model: str = spec(doc="Path of the model's ONNX file; its metadata JSON sits beside it.")
    class_thresholds: dict[str, float] = spec(
        factory=dict, doc="Per-class reject threshold in this model's score units (default: the model's metadata)."
    )
    min_area_px: float = spec(0.0, doc="A finding of this model smaller than this (pixels) does not reject.", minimum=0)
    min_area_mm2: dict[str, float] = spec(
        factory=dict, doc="Per-class minimum defect area in mm² for this model's findings (calibrated cameras)."
    )


@dataclass(frozen=True)
class ImageGateConfig:
    enabled: bool = spec(True, doc="Fail safe, before inference, every frame that is blank, saturated or frozen (see inspector/image_gate.py).")
    min_contrast: float = spec(
        2.0, doc="A frame whose grey levels vary less than this (standard deviation, 8-bit levels) is blank.", minimum=0
    )
    max_saturated_fraction: float = spec(
        0.5, doc="A frame with more than this share of pixels at full scale is saturated.", minimum=0, maximum=1
    )
    frozen_frames: int = spec(
        3, doc="This many identical frames in a row from one camera mean it is frozen (0: never checked).", minimum=0
    )


@dataclass(frozen=True)
class DetectorConfig:
    model: str = spec(doc="Path of the model's ONNX file; its metadata JSON sits beside it.")
    providers: list[str] = spec(
        factory=lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "OpenVINOExecutionProvider", "CPUExecutionProvider"],
        doc="ONNX Runtime execution providers in order of preference; absent ones are skipped with a warning.",
    )
    intra_op_threads: int = spec(
        0,
        doc="ONNX Runtime intra-op threads; 0 = one per CPU core the detector may use, not pinned to cores "
        "(ONNX Runtime's own default pins them, which costs latency when other services share the cores).",
        minimum=0,
    )
    intra_op_spinning: bool = spec(
        True,
        doc="Let ONNX Runtime's idle threads spin for the next inference: lowest latency on cores of its own; "
        "off frees the CPU sooner for the services sharing it. 'inspector bench' measures both.",
    )
    cpu_graph_rewrites: bool = spec(
        True,
        doc="On the CPU provider, load the model with rewrites of patterns ONNX Runtime's CPU kernels run slowly "
        "(the YOLOv8 box head's softmax, channel splits, concatenations read by 1x1 convs): same weights and "
        "outputs to float rounding, about 15 % less inference time on the bundled model. 'inspector bench' "
        "measures the graph with and without them.",
    )
    warmup_runs: int = spec(3, doc="Inferences on a blank frame at start, before the first part.", minimum=0)
    keep_warm_s: float = spec(
        0.0,
        doc="While no part arrives, run a blank inference this often (seconds), so the first part after an idle gap "
        "does not pay a GPU runtime's wake-up penalty (0 = off; 0.5 is a good start, see 'inspector bench').",
        minimum=0,
        maximum=60,
    )
    image_send_delay_ms: float = spec(
        10.0,
        doc="A stored part's image goes to the recorder this long after its verdict, so that copying and encoding it "
        "do not compete with the actuator's decision and PLC write on the same cores (0 = with the verdict). "
        "Images still held when the detector stops are sent then.",
        minimum=0,
        maximum=1000,
    )
    iou_threshold: float = spec(0.7, doc="YOLO family: non-maximum suppression IoU threshold.", minimum=0, maximum=1)
    min_confidence: float = spec(
        0.05,
        doc="YOLO family: detections below this score are discarded before the decision, so no class rejects below it; "
        "keep it at or below the model's reject thresholds. Other families keep every score.",
        minimum=0,
        maximum=1,
    )
    class_thresholds: dict[str, float] = spec(
        factory=dict,
        doc="Per-class reject threshold, in the model's score units (0..1 for YOLO; an anomaly model's normalised "
        "score, where 0 is a typical good part, may be any number); classes not listed use the model's metadata "
        "(the operating point chosen at export), then 'min_confidence' (YOLO).",
    )
    min_area_px: float = spec(0.0, doc="A finding smaller than this (box area for detectors, pixels covered for map regions) does not reject.", minimum=0)
    min_area_mm2: dict[str, float] = spec(
        factory=dict,
        doc="Per-class minimum defect area in mm²: a smaller detection does not reject. Applies on cameras with a measured "
        "pixel scale (see 'calibration'); without one only 'min_area_px' applies, so such detections still reject.",
    )
    require_signed_models: bool = spec(
        True,
        doc="Load only model packages signed by a key in 'trusted_keys' (inspector model sign); a package that is "
        "unsigned, signed by another key or changed after signing is refused with an alarm, and the detector runs "
        "the last model set that passed (kept in station.state_dir) instead.",
    )
    trusted_keys: list[str] = spec(
        factory=lambda: [RELEASE_KEYS_DIR],
        doc="Ed25519 public keys (PEM files, or folders of *.public.pem) whose model signatures the station accepts "
        "(default: the project's release key, which signs the bundled models). The private keys stay where models "
        "are signed, never on the station.",
    )
    additional_models: list[AdditionalModel] = spec(
        factory=list,
        doc="Further models run on every frame after 'model' (for example a supervised model for named defects beside "
        "an anomaly model for unknown ones): the part is rejected if any model rejects it, the verdict names the "
        "models that did, and the budget and fail-safe cover them all.",
    )
    image_gate: ImageGateConfig = spec(
        factory=ImageGateConfig, doc="Frames no model should judge (blank, saturated, frozen) are failed safe before inference."
    )
    instances: int = spec(1, doc="Detector processes to run (frames are shared among them).", minimum=1, maximum=16)


@dataclass(frozen=True)
class ActuatorConfig:
    budget_ms: float = spec(250.0, doc="Trigger-to-decision budget; past it the fail-safe action is applied.", minimum=1)
    failsafe_action: FailsafeAction = spec(
        "reject",
        doc="What a part without a verdict in time gets: 'reject', 'pass', or 'line_stop' (reject it and request a line stop through the fault-code tag).",
    )
    fault_hold_s: float = spec(5.0, doc="A fail-safe fault code stays on the PLC this long after the last fail-safe decision.", minimum=0)
    journal_keep_hours: float = spec(
        72.0,
        doc="The actuator journals every part and decision (station.state_dir/actuator-journal.db, committed before "
        "the PLC write, synced after it) so none is lost across crashes; final entries are kept this long.",
        minimum=1,
    )


@dataclass(frozen=True)
class PlcTag:
    name: str = spec(doc="Controller tag name.")
    type: PlcTagType = spec("DINT", doc="Logix data type of the tag.")


@dataclass(frozen=True)
class PlcTags:
    part_id: PlcTag = spec(factory=lambda: PlcTag("Inspector_PartId"), doc="Receives the decided part's id.")
    result: PlcTag = spec(factory=lambda: PlcTag("Inspector_Result"), doc="Receives the result code (1 pass, 2 reject, 3 fail-safe reject, 4 fail-safe pass).")
    sequence: PlcTag = spec(factory=lambda: PlcTag("Inspector_ResultSeq"), doc="Incremented with every decision, so PLC logic latches each result once.")
    inspections: PlcTag | None = spec(None, doc="Optional: count of decisions delivered since the actuator started, written with each heartbeat.")
    heartbeat: PlcTag | None = spec(None, doc="Optional: counter incremented every 'heartbeat_period_s'; the PLC's watchdog on Inspector.")
    fault_code: PlcTag | None = spec(None, doc="Optional: Inspector's fault (0 none, 1 fail-safe decisions, 2 line stop requested), written with each heartbeat.")
    alarms: PlcTag | None = spec(None, doc="Optional: how many critical alarms are active (0 = none), written with each heartbeat.")
    ack: PlcTag | None = spec(None, doc="Optional, read: the PLC copies the result sequence it latched here; see 'ack_timeout_s'.")

    def written(self) -> list[PlcTag]:
        """Every tag Inspector writes (never any other)."""
        optional = [self.inspections, self.heartbeat, self.fault_code, self.alarms]
        return [*self.results(), *[t for t in optional if t is not None]]

    def results(self) -> list[PlcTag]:
        """The tags each decision is written to, in one request: a PLC without them refuses the connection."""
        return [self.part_id, self.result, self.sequence]

    def auxiliary(self) -> dict[str, PlcTag]:
        """The optional tags configured, by key (inspections, heartbeat, fault_code, alarms, ack).

        Each is written (ack: read) in its own request, never with a result: a
        tag the PLC refuses raises an alarm and costs no decision.
        """
        optional = {"inspections": self.inspections, "heartbeat": self.heartbeat, "fault_code": self.fault_code,
                    "alarms": self.alarms, "ack": self.ack}
        return {key: tag for key, tag in optional.items() if tag is not None}

    def all(self) -> list[PlcTag]:
        return self.written() + ([self.ack] if self.ack is not None else [])


@dataclass(frozen=True)
class PlcConfig:
    address: str = spec("127.0.0.1:44818", doc="Controller IP address[:port] or pycomm3 path (for example '10.0.0.5/0').")
    simulator: bool = spec(False, doc="Start the cpppo Logix simulator on 'address' (demo and tests; never on a real line).")
    tag_types: TagTypeSource = spec(
        "declared", doc="'declared': take tag types from this config (fast connect; the only way with the simulator); 'upload': read the controller's tag list."
    )
    timeout_s: float = spec(1.0, doc="Socket timeout of one PLC request; bounds how long a lost PLC goes unnoticed.", minimum=0.05, maximum=60)
    reconnect_backoff_max_s: float = spec(
        1.0, doc="Longest wait between reconnect attempts (from 0.1 s, doubling). The PLC's return is seen, and "
        "plc_connection_lost cleared, within this time: keep it at 1 s or less for the 2 s an operator expects.",
        minimum=0.1, maximum=60,
    )
    heartbeat_period_s: float = spec(0.5, doc="Period of the auxiliary tags' write (heartbeat, fault code, alarm count, inspections).", minimum=0.05)
    ack_timeout_s: float = spec(0.0, doc="With tags.ack: alarm when the PLC has not acknowledged a result within this time (0 = off).", minimum=0)
    tags: PlcTags = spec(factory=PlcTags, doc="Tags Inspector writes, with their declared types.")


@dataclass(frozen=True)
class DiskSpaceLimits:
    check_interval_s: float = spec(
        1.0, doc="How often the recorder measures the free space of each filesystem holding the database, the images, "
        "station.state_dir and the service logs (a statvfs call: cheap); an alarm clears within this time of the room "
        "being back.", minimum=0.2, maximum=600,
    )
    warning_free_mb: float = spec(
        2048.0, doc="'disk_space_low' (warning) while a filesystem has less free space than this, in MiB, or than "
        "warning_free_percent, whichever is larger (0 = this limit off). On the images' filesystem retention then "
        "removes old images until the alarm clears.", minimum=0,
    )
    warning_free_percent: float = spec(5.0, doc="The warning limit as a share of the filesystem's size, in % (0 = off).", minimum=0, maximum=90)
    critical_free_mb: float = spec(
        512.0, doc="'disk_space_critical' while a filesystem has less free space than this, in MiB, or than "
        "critical_free_percent, whichever is larger (0 = off). On the images' filesystem no image is stored "
        "meanwhile; every part is still recorded.", minimum=0,
    )
    critical_free_percent: float = spec(2.0, doc="The critical limit as a share of the filesystem's size, in % (0 = off).", minimum=0, maximum=90)
    clear_margin: float = spec(
        0.2, doc="Hysteresis: a raised alarm clears once free space is this share above its limit (0.2 = 20 % more, "
        "at most 1 GiB more), so it does not flap around the limit.", minimum=0, maximum=10,
    )


@dataclass(frozen=True)
class ImageRetention:
    keep_passes_days: float = spec(
        7.0, doc="Images of sampled passed parts are removed after this many days (0 = kept until the size limit or "
        "the disk needs the room).", minimum=0,
    )
    keep_rejects_days: float = spec(
        90.0, doc="Images of rejected (and fail-safe) parts are removed after this many days (0 = kept until the size "
        "limit or the disk needs the room).", minimum=0,
    )
    max_gb: float = spec(
        0.0, doc="Largest total size of the stored images, in GiB; beyond it the oldest go, sampled passes first, "
        "then rejects (0 = no size limit).", minimum=0,
    )
    interval_s: float = spec(
        60.0, doc="How often retention looks for images past their age or the size limit (while the images' disk is "
        "low on space it runs between every batch of parts).", minimum=1, maximum=86400,
    )
    batch: int = spec(
        200, doc="Most images removed at a time, between two batches of parts (a part's record is never delayed longer).",
        minimum=1, maximum=10000,
    )


@dataclass(frozen=True)
class RecorderConfig:
    database: str = spec("inspector.db", doc="SQLite database file (one row per part).")
    image_dir: str = spec("images", doc="Folder for stored images.")
    sample_passes: float = spec(0.02, doc="Share of passed parts whose image is stored (rejects are always stored).", minimum=0, maximum=1)
    disk_space: DiskSpaceLimits = spec(
        factory=DiskSpaceLimits, doc="Free-space alarms for the filesystems of the database, images, state and logs."
    )
    retention: ImageRetention = spec(
        factory=ImageRetention,
        doc="Which stored images go first (records always stay): sampled passes, then rejects, oldest first. Images of "
        "parts an operator marked or a quality engineer labelled are kept. A removed image leaves its part's record "
        "with image_note 'image removed by retention'.",
    )
    held_rows: int = spec(
        20000, doc="Part rows and alarms kept in memory while the database cannot be written (disk full), written as "
        "soon as it can be; when that many wait, the recorder stops taking more (the actuator's journal keeps every "
        "decision and refills them).", minimum=100, maximum=1000000,
    )


@dataclass(frozen=True)
class TransportConfig:
    frames: str = spec("tcp://127.0.0.1:5561", doc="Camera -> detectors: frames (camera binds).")
    part_seen: str = spec("tcp://127.0.0.1:5562", doc="Camera -> actuator: part-seen events (actuator binds; queued in the camera while the actuator restarts).")
    verdicts: str = spec("tcp://127.0.0.1:5563", doc="Detectors -> actuator: verdicts (actuator binds).")
    decisions: str = spec("tcp://127.0.0.1:5564", doc="Actuator -> recorder: decisions, lossless (recorder binds).")
    inspections: str = spec("tcp://127.0.0.1:5565", doc="Detectors -> recorder: verdicts with images (recorder binds).")
    events: str = spec("tcp://127.0.0.1:5566", doc="Actuator -> observers (HMI): decisions and alarms, may drop (actuator binds).")
    alarms: str = spec(
        "tcp://127.0.0.1:5568",
        doc="Camera, detectors, supervisor -> actuator: alarms, which it shows (events, PLC alarm tag) and has recorded (actuator binds).",
    )
    heartbeats: str = spec("tcp://127.0.0.1:5567", doc="Services and the HMI -> supervisor: heartbeats (supervisor binds).")
    alarm_commands: str = spec(
        "tcp://127.0.0.1:5569",
        doc="HMI -> actuator: acknowledgements and shelvings of alarms on the station's alarm board (actuator binds).",
    )
    high_water_mark: int = spec(1000, doc="Messages queued per socket before a sender counts a drop.", minimum=10)
    max_frame_mb: float = spec(
        64.0,
        doc="Largest frame (pixels) a detector or the recorder accepts; a bigger message is refused by ZeroMQ before it "
        "is read. Other messages are limited to 4 MiB.",
        minimum=0.1,
        maximum=2048,
    )
    frame_handoff: FrameHandoff = spec(
        "auto",
        doc="How frames reach the detectors. 'auto': when the frames endpoint is on this host, the camera writes the "
        "pixels into an owner-only ring under /dev/shm and sends only the frame header (authenticated and encrypted "
        "by CURVE): the pixels are not encrypted on the decision's path; without /dev/shm room for the ring, or with "
        "the frames endpoint reachable from other hosts, the pixels travel in the message. 'message': always in the "
        "message (encrypted when security.curve is on).",
    )
    frame_ring_slots: int = spec(
        16,
        doc="Frames the shared-memory ring holds per camera; a detector that falls this many frames behind has its "
        "overwritten frames failed safe. Cover the frames in flight within the decision budget, with margin.",
        minimum=2,
        maximum=1024,
    )


@dataclass(frozen=True)
class SecurityConfig:
    curve: bool = spec(
        True,
        doc="Encrypt and authenticate every socket of the line with ZeroMQ CURVE: only processes holding the station's "
        "service keys (inspector keys init) can send verdicts, decisions, part-seen events and heartbeats, or read "
        "frames and events. Off is allowed only while every endpoint is on loopback.",
    )
    keys_dir: str | None = spec(
        None, doc="Folder of the station's CURVE key pairs (None = 'keys' in station.state_dir); owner-only."
    )


@dataclass(frozen=True)
class SupervisorConfig:
    heartbeat_interval_s: float = spec(0.5, doc="How often each service sends a heartbeat.", minimum=0.05, maximum=10)
    heartbeat_timeout_s: float = spec(5.0, doc="A service silent this long is restarted.", minimum=0.5)
    startup_grace_s: float = spec(30.0, doc="Time a starting service gets before its first heartbeat (model loading).", minimum=1)
    restart_backoff_initial_s: float = spec(0.5, doc="Wait before the first restart of a failed service.", minimum=0)
    restart_backoff_max_s: float = spec(10.0, doc="Longest wait between restarts (doubles each failure).", minimum=0)
    stop_timeout_s: float = spec(5.0, doc="Time a service gets to stop on SIGTERM before SIGKILL.", minimum=0.1)
    off_path_nice: int = spec(
        10,
        doc="CPU priority (nice) of the processes off the decision's path: the OPC UA server, the MQTT publisher, the "
        "shift reports and the HMI. On a machine with few cores their busy moments (an OPC UA server starting) then "
        "never cost a part its deadline (0 = the same priority as the line).", minimum=0, maximum=19,
    )
    hmi: HmiSupervision = spec(
        "off",
        doc="The operator HMI and the station. 'run': the supervisor runs it as one of the station's processes (needs a "
        "display: DISPLAY, or QT_QPA_PLATFORM, in the supervisor's environment), restarted when it dies or freezes. "
        "'watch': the HMI runs on its own (inspector-hmi.service restarts it); the supervisor watches its heartbeats. "
        "Either way a service_down alarm stands while it is down. 'off': not watched.",
    )


@dataclass(frozen=True)
class LogsConfig:
    max_mb: float = spec(
        10.0, doc="Each supervised process's log (<log dir>/<name>.log: its messages, and anything it writes to "
        "stdout/stderr) is rotated when it reaches this size, in MiB.", minimum=0.1, maximum=10000,
    )
    backups: int = spec(3, doc="Rotated logs kept per process (<name>.log.1 ... .N; 0 = the log is emptied when full).", minimum=0, maximum=100)
    repeats_per_minute: int = spec(
        20, doc="A message logged from the same place more often than this in a minute is suppressed; one line says "
        "how many were ('suppressed N similar messages').", minimum=1, maximum=100000,
    )
    max_message_chars: int = spec(
        2000, doc="A longer log message is cut to this many characters (a traceback to four times as many); values a "
        "service refuses are already cut to a few hundred.", minimum=200, maximum=1000000,
    )


ChallengeExpectation = Literal["pass", "reject"]


@dataclass(frozen=True)
class HealthLimits:
    period_s: float = spec(300.0, doc="Seconds between image-health checks of live frames (the first frame is checked at start).", minimum=1)
    grid: int = spec(4, doc="Blocks per side of the lighting-uniformity profile.", minimum=1, maximum=16)
    roi: list[int] = spec(
        factory=list, doc="Region [x, y, width, height] the checks look at (a reference target or fixed part of the view); empty = the whole frame."
    )
    min_focus_ratio: float = spec(0.6, doc="Sharpness (variance of the Laplacian) must stay at least this share of the reference's.", minimum=0, maximum=1)
    max_brightness_change: float = spec(0.2, doc="Mean grey level may differ from the reference's by at most this share.", minimum=0)
    max_clipped_fraction: float = spec(0.01, doc="Share of clipped (black or saturated) pixels allowed beyond the reference's.", minimum=0, maximum=1)
    max_uniformity_change: float = spec(0.1, doc="Each block's brightness relative to the frame's may move at most this much from the reference.", minimum=0)


@dataclass(frozen=True)
class ChallengePart:
    name: str = spec(doc="Name of the challenge part in verification reports and the audit trail.")
    image: str = spec(doc="Image of the part as the camera sees it (PNG, BMP, TIFF, JPEG); relative to the config file.")
    expect: ChallengeExpectation = spec(doc="'pass' for a known-good part, 'reject' for a known-bad one.")
    camera: str | None = spec(None, doc="Camera whose calibration (undistortion, scale) applies to the image (None = the first camera).")


@dataclass(frozen=True)
class CalibrationConfig:
    folder: str | None = spec(
        None, doc="Folder of per-camera calibration files (<camera>.json, <camera>.health.json); None = 'calibration' beside the recorder database."
    )
    board_cols: int = spec(9, doc="Calibration checkerboard: inner corners along a row.", minimum=3, maximum=100)
    board_rows: int = spec(6, doc="Calibration checkerboard: inner corners along a column.", minimum=3, maximum=100)
    square_mm: float = spec(25.0, doc="Calibration checkerboard: side of one square in millimetres.", minimum=0.1)
    undistort: bool = spec(False, doc="Remove lens distortion from frames before inspection (needs the camera's calibration).")
    health: HealthLimits = spec(factory=HealthLimits, doc="Image-health limits: focus, exposure, lighting uniformity against the stored reference.")
    challenge_parts: list[ChallengePart] = spec(
        factory=list, doc="Known-good and known-bad reference images that 'inspector verify' runs through the detector."
    )
    require_verification: bool = spec(
        False, doc="Report no PASS verdicts (reject instead) until a verification with the current model passed within 'verification_valid_h'."
    )
    verification_valid_h: float = spec(8.0, doc="Hours a passing verification stays valid (one shift).", minimum=0.01)
    audit_database: str | None = spec(None, doc="Audit trail (append-only, hash-chained SQLite); None = 'audit.db' beside the recorder database.")


@dataclass(frozen=True)
class ShiftDefinition:
    name: str = spec(doc="Shift name used in 'inspector report --shift DATE/NAME' (for example 'early').")
    start: str | int = spec(doc="Start time HH:MM, plant local time (reports.timezone); unquoted YAML 14:00 is read as a time too.")
    end: str | int = spec(doc="End time HH:MM; earlier than 'start' means the shift ends the next day (a night shift).")


@dataclass(frozen=True)
class ReportCosts:
    false_reject: float = spec(0.0, doc="Cost of one good part rejected (scrap or re-inspection), in reports.currency.", minimum=0)
    escape: float = spec(0.0, doc="Cost of one defective part that reached the customer (claim, sorting, goodwill).", minimum=0)
    system_per_month: float = spec(0.0, doc="What running the station costs per month (for the return on investment; 0 = not shown).", minimum=0)


@dataclass(frozen=True)
class ReportBaseline:
    label: str = spec("before Inspector", doc="What the baseline is (for example 'manual inspection 2025').")
    false_reject_rate: float = spec(0.0, doc="Share of inspected parts wrongly rejected before (per part, 0..1).", minimum=0, maximum=1)
    escape_rate: float = spec(0.0, doc="Share of inspected parts that escaped as defective before (per part, 0..1).", minimum=0, maximum=1)


def _default_shifts() -> list[ShiftDefinition]:
    return [ShiftDefinition("early", "06:00", "14:00"), ShiftDefinition("late", "14:00", "22:00"), ShiftDefinition("night", "22:00", "06:00")]


@dataclass(frozen=True)
class ReportsConfig:
    folder: str | None = spec(None, doc="Where generated reports and their index go (None = 'reports' beside the recorder database).")
    timezone: str = spec("UTC", doc="The plant's time zone (IANA name, for example 'Europe/Berlin'): shifts and months are local time.")
    shifts: list[ShiftDefinition] = spec(factory=_default_shifts, doc="The plant's shifts.")
    at_shift_end: bool = spec(
        False, doc="'inspector run' writes the shift report when each shift ends (and 'inspector report scheduler' does alone)."
    )
    downtime_gap_s: float = spec(
        120.0, doc="A gap between parts longer than this counts as downtime (availability = planned time minus downtime).", minimum=1
    )
    currency: str = spec("EUR", doc="Currency of the costs, shown in the reports.")
    costs: ReportCosts = spec(factory=ReportCosts, doc="What a false reject and an escape cost.")
    baseline: ReportBaseline = spec(factory=ReportBaseline, doc="The plant's figures before Inspector, the savings are measured against.")


@dataclass(frozen=True)
class OpcUaConfig:
    enabled: bool = spec(False, doc="Run the OPC UA server (OPC 40100 Machine Vision) beside the line ('inspector run' starts it).")
    endpoint: str = spec("opc.tcp://127.0.0.1:4840/inspector/", doc="Endpoint URL the server listens on.")
    folder: str | None = spec(
        None, doc="Server certificate, private key and trusted client certificates ('inspector opcua certs'); None = 'opcua' in station.state_dir."
    )
    allow_anonymous: bool = spec(False, doc="Also accept clients without a certificate, unencrypted (off: Basic256Sha256 SignAndEncrypt with a trusted client certificate only).")
    recipes: dict[str, str] = spec(
        factory=dict,
        doc="Models a client may select by name: name -> a registry package (name@version or package id) or a model .onnx file "
        "installed in the registry; the detector's 'model' is always offered under its folder name. A selection promotes the package "
        "(gated or formerly production ones only) and the detector swaps to it between parts (docs/opcua.md).",
    )


@dataclass(frozen=True)
class ModelRegistryConfig:
    folder: str | None = spec(
        None, doc="The station's model registry (every installed signed package, content-addressed, and the owner-only "
        "production pointer); None = 'model-registry' in station.state_dir. See docs/model-registry.md."
    )
    follow_production: bool = spec(
        True,
        doc="The detector runs the registry's production model of each slot (primary, additional-N) in place of the "
        "configured one once a model is promoted ('inspector model promote'), and swaps to a newly promoted one "
        "between parts. Slots nothing was promoted to run the configured model.",
    )
    check_interval_s: float = spec(
        1.0, doc="How often the detector looks at the production pointer between parts (seconds).", minimum=0.05, maximum=60
    )
    marked_parts: int = spec(
        20, doc="The first this many parts decided by a newly swapped-in model carry their count in 'first_on_model'.",
        minimum=1, maximum=100000,
    )
    max_reject_rate_departure: float = spec(
        0.2,
        doc="After a swap to a model that ran in shadow, roll it back automatically (with an alarm) when its reject rate "
        "over the first 'departure_parts' parts differs from the rate its shadow run measured by more than this (absolute).",
        minimum=0.01, maximum=1,
    )
    departure_parts: int = spec(
        100, doc="Parts after a swap over which the new model's reject rate is compared with its shadow run's.",
        minimum=5, maximum=100000,
    )
    triage_band: float = spec(
        0.1, doc="A decided part whose closest score lies within this of its class's reject threshold (model score units) "
        "is queued for review, least certain first ('inspector model triage', the review screen).", minimum=0,
    )
    require_gate: bool = spec(
        True,
        doc="'inspector model promote' refuses a candidate without a passing gate ('inspector model gate') against the "
        "slot's production model on the latest golden set, unless forced with a reason (audited).",
    )
    gate_false_reject_tolerance: float = spec(
        0.0,
        doc="The gate lets a candidate reject at most production's false rejects plus this share of the golden set's "
        "good images (0.01 = one more per hundred good images).",
        minimum=0, maximum=1,
    )


@dataclass(frozen=True)
class DriftConfig:
    enabled: bool = spec(
        True, doc="Watch the line for drift away from a reference (image brightness and contrast, score distribution, "
        "reject rate) and raise a warning alarm naming what moved. See docs/model-registry.md."
    )
    reference_parts: int = spec(
        200, doc="Per camera, the first this many parts after the detector starts (and, for scores and reject rate, after "
        "a model swap) are the reference.", minimum=5, maximum=1_000_000,
    )
    window_parts: int = spec(200, doc="The latest this many parts are compared with the reference.", minimum=5, maximum=100_000)
    max_brightness_shift: float = spec(
        15.0, doc="Alarm when the window's mean grey level is this many 8-bit levels from the reference's.", minimum=0.1
    )
    max_contrast_change: float = spec(
        0.3, doc="Alarm when the window's mean contrast (grey-level standard deviation) differs from the reference's by "
        "this share.", minimum=0.01,
    )
    max_score_psi: float = spec(
        0.25, doc="Alarm when the population stability index of the window's part scores against the reference scores "
        "exceeds this (0.1 small, 0.25 large shift). The reference scores are the production model's gate scores when "
        "it was gated ('inspector model gate'), else the reference parts'.", minimum=0.01,
    )
    max_reject_rate_change: float = spec(
        0.25, doc="Alarm when the window's reject rate differs from the reference parts' by more than this (absolute).",
        minimum=0.01, maximum=1,
    )
    max_latency_increase: float = spec(
        1.0, doc="Alarm when the models' mean time per part over the window exceeds the reference parts' by this share "
        "(1.0 = twice as long): a slower accelerator, thermal throttling, a competing process.", minimum=0.05,
    )
    series_every_parts: int = spec(
        10, doc="Every this many parts per camera the detector appends the drift measures to drift.db beside the recorder "
        "database, for the HMI's trend plots (0 = keep no series). After the verdict left; a failed write is logged only.",
        minimum=0, maximum=100_000,
    )
    series_points: int = spec(
        5000, doc="The drift series keeps this many latest points per camera (older ones are deleted).", minimum=10, maximum=10_000_000,
    )


@dataclass(frozen=True)
class MqttTopic:
    """Where this station sits in the plant's ISA-95 hierarchy: its MQTT topics start with these segments."""

    enterprise: str = spec("enterprise", doc="ISA-95 enterprise: the first topic segment.")
    site: str = spec("site", doc="ISA-95 site (plant).")
    area: str = spec("area", doc="ISA-95 area (hall, department).")
    line: str = spec("line", doc="ISA-95 line (production line).")
    cell: str | None = spec(None, doc="ISA-95 work cell: this station (None = station.name).")


@dataclass(frozen=True)
class MqttTls:
    ca_file: str = spec(doc="CA certificate (PEM) the broker's certificate must chain to.")
    cert_file: str | None = spec(None, doc="Client certificate (PEM), for brokers that authenticate clients by certificate.")
    key_file: str | None = spec(None, doc="Private key (PEM) of 'cert_file'; owner-only.")
    check_hostname: bool = spec(True, doc="Check that the broker's certificate names 'host' (turn off only for a broker addressed by IP without one).")


@dataclass(frozen=True)
class MqttOutbox:
    path: str | None = spec(None, doc="SQLite outbox (WAL, owner-only) holding messages until the broker acknowledged them (None = 'mqtt-outbox.db' in station.state_dir).")
    max_messages: int = spec(100000, doc="Most messages the outbox holds while the broker is away.", minimum=10)
    max_mb: float = spec(200.0, doc="Largest size of the outbox's messages, in MiB.", minimum=0.1)


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = spec(
        False,
        doc="Publish this station's part results, state, alarms and KPIs to an MQTT broker (unified namespace; "
        "see docs/mqtt.md): a 'publisher' service under the supervisor, reading what the recorder stored.",
    )
    host: str = spec("127.0.0.1", doc="Broker host name or address.")
    port: int = spec(1883, doc="Broker port (8883 is the usual one with TLS).", minimum=1, maximum=65535)
    client_id: str | None = spec(None, doc="MQTT client id (None = 'inspector-<station.name>'); unique per broker.")
    keepalive_s: int = spec(30, doc="MQTT keep-alive: the broker publishes the station's death this long (x1.5) after it went silent.", minimum=5, maximum=3600)
    username: str | None = spec(None, doc="User name for the broker (None = anonymous).")
    password_file: str | None = spec(None, doc="File holding the broker password (one line, owner-only); needs 'username'.")
    tls: MqttTls | None = spec(None, doc="TLS to the broker (None = plain TCP, acceptable on loopback only).")
    topic: MqttTopic = spec(factory=MqttTopic, doc="The ISA-95 topic tree: <enterprise>/<site>/<area>/<line>/<cell>/...")
    outbox: MqttOutbox = spec(factory=MqttOutbox, doc="Store-and-forward: messages wait on disk while the broker is away.")
    max_inflight: int = spec(100, doc="Messages sent and not yet acknowledged by the broker (PUBACK) at any time.", minimum=1, maximum=10000)
    kpi_interval_s: float = spec(10.0, doc="How often the station's KPIs are published (retained).", minimum=0.5, maximum=3600)
    kpi_window_s: float = spec(3600.0, doc="The KPIs count the parts decided in this last stretch of time (and since the database began).", minimum=1)
    reconnect_backoff_max_s: float = spec(
        1.0, doc="Longest wait between attempts to reach the broker (doubles from 0.2 s); the broker's return is seen, and "
        "mqtt_broker_unreachable cleared, within this time.", minimum=0.2, maximum=600)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = spec(
        False,
        doc="Each service serves Prometheus metrics on its own port (see docs/metrics.md): actuator base_port, "
        "recorder +1, publisher +2, detector instance i +10+i, camera i (in 'cameras' order) +20+i.",
    )
    host: str = spec("127.0.0.1", doc="Address the metrics endpoints listen on ('0.0.0.0' for a Prometheus on another host).")
    base_port: int = spec(9300, doc="First metrics port (see 'enabled' for the others).", minimum=1, maximum=65000)


@dataclass(frozen=True)
class PlantConfig:
    mqtt: MqttConfig = spec(factory=MqttConfig, doc="MQTT unified namespace with store-and-forward (off by default).")
    metrics: MetricsConfig = spec(factory=MetricsConfig, doc="Prometheus metrics of every service (off by default).")


@dataclass(frozen=True)
class Config:
    cameras: list[CameraConfig] = spec(doc="Cameras of the station; each runs as its own camera service.")
    detector: DetectorConfig = spec(doc="Detector service: model, execution providers, decision rules.")
    station: StationConfig = spec(factory=StationConfig, doc="The station's identity.")
    actuator: ActuatorConfig = spec(factory=ActuatorConfig, doc="Actuator service: latency budget and fail-safe.")
    plc: PlcConfig = spec(factory=PlcConfig, doc="The PLC the actuator writes decisions to.")
    recorder: RecorderConfig = spec(factory=RecorderConfig, doc="Recorder service: database and image store.")
    transport: TransportConfig = spec(factory=TransportConfig, doc="ZeroMQ endpoints of the line.")
    security: SecurityConfig = spec(factory=SecurityConfig, doc="Authentication and encryption of the line's traffic.")
    supervisor: SupervisorConfig = spec(factory=SupervisorConfig, doc="Supervision: heartbeats and restarts.")
    logs: LogsConfig = spec(factory=LogsConfig, doc="The supervised processes' logs: rotation, repeats, long messages.")
    calibration: CalibrationConfig = spec(
        factory=CalibrationConfig, doc="Camera calibration, pixel scale, image health and challenge-part verification."
    )
    reports: ReportsConfig = spec(factory=ReportsConfig, doc="Shift and monthly reports for management (inspector report).")
    opcua: OpcUaConfig = spec(factory=OpcUaConfig, doc="OPC UA server for the plant's SCADA/MES (off by default).")
    models: ModelRegistryConfig = spec(
        factory=ModelRegistryConfig, doc="The model registry: installed packages, promotion, rollback, hot swap."
    )
    drift: DriftConfig = spec(factory=DriftConfig, doc="Drift of images, scores and reject rate away from a reference: alarms.")
    plant: PlantConfig = spec(factory=PlantConfig, doc="Publishing to the plant: MQTT, Prometheus metrics (off the decision path).")
    alarms: AlarmsConfig = spec(factory=AlarmsConfig, doc="The alarm board: acknowledgement and shelving (ISA-18.2).")

    def camera(self, name: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)

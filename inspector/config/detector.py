"""The ``detector`` section of the station config: models, execution providers, decision settings, each family's
settings (:mod:`inspector.config.families`), the image gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.config.families import FamilySettings
from inspector.typed import spec

RELEASE_KEYS_DIR = str(Path(__file__).resolve().parents[1] / "models" / "release-keys")


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
    families: FamilySettings = spec(
        factory=FamilySettings,
        doc="Each model family's own settings, by family name (see inspector/config/families.py): for example "
        "'yolo: {iou_threshold: 0.7, min_confidence: 0.05}'. A model's package names its family; these settings "
        "apply to every model of that family the station runs.",
    )
    class_thresholds: dict[str, float] = spec(
        factory=dict,
        doc="Per-class reject threshold, in the model's score units (0..1 for YOLO; an anomaly model's normalised "
        "score, where 0 is a typical good part, may be any number); classes not listed use the model's metadata "
        "(the operating point chosen at export), then the family's lowest kept score (YOLO: "
        "'families.yolo.min_confidence').",
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

"""The station configuration: one typed section per service, each in its own module of this package.

Every field carries its documentation (``doc``), which ``inspector config
explain`` prints and the shipped ``default_station.yaml`` repeats as comments.
Relative paths are resolved against the directory of the config file.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.config.actuator import ActuatorConfig, FailsafeAction, PlcConfig, PlcTag, PlcTags, PlcTagType, TagTypeSource
from inspector.config.alarms import AlarmsConfig
from inspector.config.calibration import CalibrationConfig, ChallengeExpectation, ChallengePart, HealthLimits
from inspector.config.detector import RELEASE_KEYS_DIR, AdditionalModel, DetectorConfig, ImageGateConfig
from inspector.config.families import AnomalySettings, FamilySettings, SegmentationSettings, YoloSettings
from inspector.config.models import DriftConfig, ModelRegistryConfig
from inspector.config.opcua import OpcUaConfig
from inspector.config.plant import MetricsConfig, MqttConfig, MqttOutbox, MqttTls, MqttTopic, PlantConfig
from inspector.config.recorder import DiskSpaceLimits, ImageRetention, RecorderConfig
from inspector.config.reports import ReportBaseline, ReportCosts, ReportsConfig, ShiftDefinition
from inspector.config.station import CameraConfig, CameraDriverName, CameraRoi, StationConfig, TriggerMode
from inspector.config.supervisor import HmiSupervision, LogsConfig, SupervisorConfig
from inspector.config.transport import FrameHandoff, SecurityConfig, TransportConfig
from inspector.typed import spec

# the sections live in their own modules; every ``from inspector.config.schema import X`` keeps working
__all__ = [
    "Config",
    "ActuatorConfig", "FailsafeAction", "PlcConfig", "PlcTag", "PlcTags", "PlcTagType", "TagTypeSource",
    "AlarmsConfig",
    "CalibrationConfig", "ChallengeExpectation", "ChallengePart", "HealthLimits",
    "RELEASE_KEYS_DIR", "AdditionalModel", "DetectorConfig", "ImageGateConfig",
    "AnomalySettings", "FamilySettings", "SegmentationSettings", "YoloSettings",
    "DriftConfig", "ModelRegistryConfig",
    "OpcUaConfig",
    "MetricsConfig", "MqttConfig", "MqttOutbox", "MqttTls", "MqttTopic", "PlantConfig",
    "DiskSpaceLimits", "ImageRetention", "RecorderConfig",
    "ReportBaseline", "ReportCosts", "ReportsConfig", "ShiftDefinition",
    "CameraConfig", "CameraDriverName", "CameraRoi", "StationConfig", "TriggerMode",
    "HmiSupervision", "LogsConfig", "SupervisorConfig",
    "FrameHandoff", "SecurityConfig", "TransportConfig",
]


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

"""The exception hierarchy: one root, one subclass per area of the appliance.

Low-level errors (ZeroMQ, ONNX Runtime, pycomm3, OS) are wrapped at the
boundary with ``raise SomethingError(...) from err`` so a log line names the
part of Inspector that failed and still carries the original cause.
"""

from __future__ import annotations

EXIT_REFUSED = 2  # what a command returns when it refuses its input (an InspectorError): retrying will not help


class InspectorError(Exception):
    """Root of every error Inspector raises on purpose."""


class ConfigError(InspectorError):
    """The station configuration is missing, malformed or has a bad value.

    ``field`` is the dotted path of the offending key (``plc.address``) so an
    integrator can find it in the YAML file.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"config field '{field}': {problem}" if field else problem)


class MessageError(InspectorError):
    """A message on the line's transport could not be decoded or is invalid."""


class EndpointInUse(MessageError):
    """An endpoint of the line cannot be bound: another process holds it (``holders``, as far as they are visible),
    or its socket folder is not safe."""

    def __init__(self, message: str, holders: list | None = None) -> None:
        super().__init__(message)
        self.holders = list(holders or [])


class ModelError(InspectorError):
    """The detector model package is missing, corrupt or inconsistent."""


class CameraError(InspectorError):
    """A camera driver could not open, configure or grab."""


class ImageRefused(CameraError):
    """An image no part may be judged on: cut short, damaged (the decoder warned), or larger than the camera's
    frame limit (``cameras[].max_frame_mb``). Its part gets no frame, so the fail-safe decision, and the camera
    names the reason in an ``image_refused`` event."""


class PlcError(InspectorError):
    """The PLC could not be reached or refused a read/write."""


class PlcTagRefused(PlcError):
    """The PLC answered a request and refused some of its tags; the session is still good.

    ``refused`` maps each refused tag to what the PLC said about it.
    """

    def __init__(self, message: str, refused: dict[str, str]) -> None:
        self.refused = refused
        super().__init__(message)


class PlcWriteInDoubt(PlcError):
    """A result's write request went out and no answer came back (the session dropped): the PLC may have latched it.

    The PLC's result tags, read back at the next session, tell (:mod:`plc_io.reconcile`).
    """


class StoreError(InspectorError):
    """The line's records could not be read or written: the station database or its image store
    (:mod:`inspector.records`), or another owner's file (the actuator's journal, the alarm board)."""


class StoreUnavailableError(StoreError):
    """The database cannot take writes now (the disk full, a file size limit, an I/O error, locked, read-only): the
    same write succeeds later, so the recorder holds what it could not write and retries."""


class StoreCorruptError(StoreError):
    """The recorder's database file is damaged (SQLite: "database disk image is malformed", "file is not a
    database"): writing to it again will not help; it is moved aside and a fresh one started."""


class ServiceError(InspectorError):
    """A service could not start or the supervisor could not manage it."""


class TrainingError(InspectorError):
    """Training or export could not run (missing extra, bad data, failed or unfinished run)."""


class ReportError(InspectorError):
    """A report cannot be made: a bad period or argument, a missing or unreadable database, a bad escapes file."""


class OpcUaError(InspectorError):
    """The OPC UA server cannot start: missing certificates, a bad endpoint, a port in use."""


class InstallError(InspectorError):
    """The station cannot be installed as services here: not root, a missing group, a Python the units cannot run."""

"""The line's messages as a station decoded them before msgspec (commit b2a039d): the old side of a mixed station.

A frozen copy of ``inspector/messages.py`` of that commit (typed dataclasses,
``json`` and :func:`inspector.typed.from_dict`), kept to show that today's
messages travel both ways between an old and a new station
(tests/unit/test_message_wire.py) and to measure decoding before and after
(benchmarks/message_decoding.py). Not used by the station.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, replace
from typing import Any, Literal, TypeVar

from inspector.bounded import clip
from inspector.errors import MessageError
from inspector.part_ids import MAX_PART_ID, MIN_PART_ID
from inspector.typed import FieldProblem, from_dict, spec, to_dict

VerdictResult = Literal["PASS", "REJECT", "FAILSAFE"]
DecisionResult = Literal["PASS", "REJECT", "FAILSAFE_REJECT", "FAILSAFE_PASS"]
DecisionSource = Literal["verdict", "deadline", "detector_error"]

SUPPORTED_DTYPES = ("uint8", "uint16")
MIN_FRAME_SIDE, MAX_FRAME_SIDE = 16, 65_536  # pixels
MAX_ASPECT_RATIO = 64  # line-scan images are long, but not a ribbon a model could not look at
PIXEL_FORMATS = {"Mono8": 1, "Mono16": 1, "BGR8": 3, "RGB8": 3}


def part_id_field(default: Any = MISSING) -> Any:
    """A message's part id: decoding refuses one outside 1 .. 2**63 - 1 (what the records hold; see inspector.part_ids)."""
    return spec(default, doc="The part's id, unique for the life of the station.", minimum=MIN_PART_ID, maximum=MAX_PART_ID)


@dataclass(frozen=True)
class FrameHeader:
    station: str
    camera: str
    part_id: int = part_id_field()
    seq: int
    t_trigger: float
    t_capture: float
    height: int
    width: int
    channels: int
    dtype: str
    pixel_format: str
    source: str = ""  # where the pixels came from (synthetic part index, file path)
    # frames handed over in shared memory (see inspector.frame_ring): the ring's id, the slot, the write's generation
    ring: str = ""
    ring_slot: int = -1
    ring_generation: int = 0

    @property
    def in_ring(self) -> bool:
        return self.ring_slot >= 0

    def without_ring(self) -> "FrameHeader":
        """The header of a frame whose pixels travel with it (the detector's copy, sent on to the recorder)."""
        return replace(self, ring="", ring_slot=-1, ring_generation=0)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.height, self.width) if self.channels == 1 else (self.height, self.width, self.channels)

    @property
    def nbytes(self) -> int:
        itemsize = 1 if self.dtype == "uint8" else 2
        return self.height * self.width * self.channels * itemsize

    def check(self) -> None:
        """Raise :class:`MessageError` if the header describes an impossible frame."""
        if self.dtype not in SUPPORTED_DTYPES:
            raise MessageError(f"frame of part {self.part_id}: unknown dtype {clip(repr(self.dtype), 60)} (supported: {', '.join(SUPPORTED_DTYPES)})")
        expected_channels = PIXEL_FORMATS.get(self.pixel_format)
        if expected_channels is None:
            raise MessageError(f"frame of part {self.part_id}: unknown pixel format {clip(repr(self.pixel_format), 60)}")
        if expected_channels != self.channels:
            raise MessageError(
                f"frame of part {self.part_id}: pixel format {self.pixel_format} has {expected_channels} channel(s), header says {self.channels}"
            )
        if min(self.height, self.width) < MIN_FRAME_SIDE or max(self.height, self.width) > MAX_FRAME_SIDE:
            raise MessageError(
                f"frame of part {self.part_id}: shape {self.height}x{self.width} refused "
                f"(each side {MIN_FRAME_SIDE} to {MAX_FRAME_SIDE} pixels)"
            )
        if max(self.height, self.width) > MAX_ASPECT_RATIO * min(self.height, self.width):
            raise MessageError(
                f"frame of part {self.part_id}: shape {self.height}x{self.width} refused "
                f"(sides more than {MAX_ASPECT_RATIO}:1 apart)"
            )


@dataclass(frozen=True)
class PartSeen:
    station: str
    camera: str
    part_id: int = part_id_field()
    seq: int
    t_trigger: float


@dataclass(frozen=True)
class Detection:
    """A candidate defect and whether it rejected the part (see :mod:`inspector.engine.decision_rules`).

    ``score`` is in the model's normalised units (0..1 for a YOLO detector,
    unbounded for an anomaly model). ``area_px`` is the box's area for a
    detector and the pixels a map region covers for map families, whose
    regions also carry their ``outline``.
    """

    cls: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    area_px: float
    causes_reject: bool
    area_mm2: float | None = None
    model: str = ""  # the model (name@version) that found it, on a station running several
    outline: list[list[float]] = field(default_factory=list)  # [[x, y], ...] frame pixels; empty for boxes


@dataclass(frozen=True)
class Verdict:
    station: str
    camera: str
    part_id: int = part_id_field()
    seq: int
    result: VerdictResult
    t_trigger: float
    t_verdict: float
    model_version: str
    detections: list[Detection] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    source: str = ""  # the frame's source (synthetic part index, file path)
    first_on_model: int = 0  # 1..N for the first parts a newly swapped-in model decided (models.marked_parts), else 0

    @property
    def causes(self) -> list[Detection]:
        return [d for d in self.detections if d.causes_reject]


@dataclass(frozen=True)
class Decision:
    """The one decision a triggered part gets, as written to the PLC."""

    station: str
    camera: str
    part_id: int = part_id_field()
    seq: int
    result: DecisionResult
    source: DecisionSource
    t_trigger: float
    t_decided: float
    plc_delivered: bool
    t_plc_written: float | None = None  # the PLC confirmed the write
    plc_error: str = ""
    verdict: Verdict | None = None
    t_plc_sent: float | None = None  # the write request was handed to the PLC driver
    plc_seq: int | None = None  # the result sequence number the PLC latched this decision with

    @property
    def latency_ms(self) -> float | None:
        """Trigger to PLC write, when the write happened."""
        return None if self.t_plc_written is None else (self.t_plc_written - self.t_trigger) * 1000


AlarmSeverity = Literal["info", "warning", "critical"]
AlarmKind = Literal["condition", "event"]
AlarmAction = Literal["acknowledge", "shelve", "unshelve"]


@dataclass(frozen=True)
class Alarm:
    """An alarm's change, as its owner reports it (see :mod:`inspector.alarms`).

    A ``condition`` is raised (``active``) while its cause lasts and cleared
    (``active`` False) by its owner when the cause ends; an ``event`` is a
    one-shot occurrence (a fail-safe decision, a late PLC write): it is
    recorded and shown until acknowledged, never a standing alarm. ``source``
    is what the alarm is about (``camera:top``, ``detector:0``), ``owner`` the
    process that raises and clears it ('' when it is the source itself).
    """

    station: str
    source: str
    code: str
    severity: AlarmSeverity
    text: str
    t: float
    active: bool = True
    part_id: int | None = part_id_field(None)
    kind: AlarmKind = "condition"
    owner: str = ""

    @property
    def raised_by(self) -> str:
        return self.owner or self.source


@dataclass(frozen=True)
class AlarmStanding:
    """An owner's conditions that are active now, restated every second: whatever it no longer lists has cleared.

    A restarted owner's first statement clears what its previous run raised and
    no longer holds; a clearing lost on the way is repaired by the next one.
    """

    station: str
    owner: str
    t: float
    alarms: list[Alarm] = field(default_factory=list)


@dataclass(frozen=True)
class AlarmCommand:
    """An operator's acknowledgement, or a quality engineer's shelving, of an alarm on the board (from the HMI).

    ``source`` and ``code`` empty with ``acknowledge``: every alarm shown now.
    """

    station: str
    action: AlarmAction
    source: str
    code: str
    user: str
    role: str
    t: float
    reason: str = ""
    shelve_s: float = 0.0


@dataclass(frozen=True)
class AlarmEntry:
    """One alarm on the station's alarm board (ISA-18.2 states): active or not, acknowledged or not, shelved or not."""

    source: str
    code: str
    owner: str
    severity: AlarmSeverity
    kind: AlarmKind
    text: str
    active: bool
    t_raised: float  # the latest occurrence
    t_changed: float
    count: int = 1  # occurrences since it was last acknowledged
    part_id: int | None = part_id_field(None)
    acked: bool = False
    acked_by: str = ""
    t_acked: float | None = None
    shelved_until: float | None = None
    shelved_by: str = ""
    shelve_reason: str = ""

    def shelved(self, now: float) -> bool:
        return self.shelved_until is not None and now < self.shelved_until

    def standing(self, now: float) -> bool:
        """Active and not shelved: counted on the PLC's alarm tag, in OPC UA's state, MQTT and metrics."""
        return self.active and not self.shelved(now)

    def shown(self, now: float) -> bool:
        """On the operator's list: active or not yet acknowledged, and not shelved."""
        return (self.active or not self.acked) and not self.shelved(now)


@dataclass(frozen=True)
class AlarmBoardState:
    """The whole alarm board, from its one keeper (the actuator) to observers, on every change and every second."""

    station: str
    t: float
    version: int
    entries: list[AlarmEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Heartbeat:
    service: str
    pid: int
    seq: int
    t: float
    counters: dict[str, int] = field(default_factory=dict)


MESSAGE_KINDS: dict[bytes, type] = {
    b"part_seen": PartSeen,
    b"verdict": Verdict,
    b"decision": Decision,
    b"heartbeat": Heartbeat,
    b"alarm": Alarm,
    b"alarm_standing": AlarmStanding,
    b"alarm_command": AlarmCommand,
    b"alarm_board": AlarmBoardState,
}
KIND_OF = {cls: kind for kind, cls in MESSAGE_KINDS.items()}
FRAME_KIND = b"frame"

M = TypeVar("M")


def encode(message: object) -> list[bytes]:
    """The multipart form of a (non-frame) message."""
    return [KIND_OF[type(message)], json.dumps(to_dict(message), separators=(",", ":")).encode()]


def encode_header(header: FrameHeader) -> bytes:
    return json.dumps(to_dict(header), separators=(",", ":")).encode()


MAX_HEADER_BYTES = 4 * 1024 * 1024  # a verdict with hundreds of outlined detections is a few hundred KiB
MAX_SMALL_HEADER_BYTES = 64 * 1024  # frame headers, part-seen events, heartbeats, alarms


def decode_json(cls: type[M], payload: bytes | memoryview) -> M:
    """Strictly decode a JSON header into ``cls``; an oversized or too deeply nested one is a MessageError."""
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    limit = MAX_HEADER_BYTES if cls in (Verdict, Decision, AlarmBoardState, AlarmStanding) else MAX_SMALL_HEADER_BYTES
    if size > limit:
        raise MessageError(f"{cls.__name__} header of {size} bytes refused: the limit is {limit}")
    try:
        data = json.loads(bytes(payload))
    except (ValueError, UnicodeDecodeError) as err:
        raise MessageError(f"{cls.__name__} header is not valid JSON: {err}") from err
    except RecursionError as err:
        raise MessageError(f"{cls.__name__} header is nested too deeply to be a message") from err
    try:
        return from_dict(cls, data)
    except FieldProblem as err:
        raise MessageError(f"{cls.__name__} header field {err}") from err


def decode(parts: list[bytes]) -> object:
    """Decode a non-frame multipart message by its kind."""
    if len(parts) != 2:
        raise MessageError(f"expected 2 message parts (kind, header), got {len(parts)}")
    cls = MESSAGE_KINDS.get(bytes(parts[0]))
    if cls is None:
        raise MessageError(f"unknown message kind {bytes(parts[0])[:32]!r}")
    return decode_json(cls, parts[1])

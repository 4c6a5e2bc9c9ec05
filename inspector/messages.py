"""Message contracts of the line.

Every message is a ZeroMQ multipart message whose first part is the message
kind (ASCII) and second part a JSON header; frames add a third part, the raw
pixel buffer. JSON only: nothing on the wire is ever unpickled.

Decoding is strict and bounded (msgspec Structs): an unknown or missing
field, a value of the wrong type, or a value outside what the services,
SQLite (64-bit integers) and the PLC's tags can hold is a
:class:`MessageError` naming the message and the field (``part_id: must be
at most 9223372036854775807, got 9223372036854775808``), cut to a few hundred
characters. Integers are bounded (part ids 1 .. 2**63 - 1, sequence numbers
and counts 0 .. 2**63 - 1), numbers are finite, times are within what a date
can show. What a frame's shape may be is :meth:`FrameHeader.check`'s, which
knows the part and lets the detector fail it safe at once.

Times are UNIX epoch seconds (``time.time()``) so they compare across the
line's processes; durations are milliseconds.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta, field
from msgspec.structs import replace

from inspector.bounded import clip
from inspector.errors import MessageError
from inspector.message_refusals import refusal
from inspector.part_ids import MAX_PART_ID, MIN_PART_ID

VerdictResult = Literal["PASS", "REJECT", "FAILSAFE"]
DecisionResult = Literal["PASS", "REJECT", "FAILSAFE_REJECT", "FAILSAFE_PASS"]
# seen_lost: the part's part-seen event was lost (with a killed or frozen actuator); decided fail-safe when the next
# part's event showed the gap or from the camera's trigger journal (inspector.actuator.seen_recovery), with its trigger
# time from that journal, or, when the journal is out of reach, the next part's (an upper bound: triggered before)
DecisionSource = Literal["verdict", "deadline", "detector_error", "seen_lost"]
TRIGGER_TIME_UNKNOWN: DecisionSource = "seen_lost"  # the one source whose t_trigger is an upper bound, not the part's

SUPPORTED_DTYPES = ("uint8", "uint16")
MIN_FRAME_SIDE, MAX_FRAME_SIDE = 16, 65_536  # pixels
MAX_ASPECT_RATIO = 64  # line-scan images are long, but not a ribbon a model could not look at
PIXEL_FORMATS = {"Mono8": 1, "Mono16": 1, "BGR8": 3, "RGB8": 3}
MAX_RING_SLOTS = 1024  # a camera's shared-memory ring holds at most this many frames (transport.frame_ring_slots)

# -- the bounds every message's values are decoded within ------------------------------------------------------------
MAX_INT64, MAX_INT32 = 2**63 - 1, 2**31 - 1
MAX_TIME = 253_402_300_799.0  # 9999-12-31 23:59:59 UTC: the last second a date (reports, HMI, OPC UA) can show
PartId = Annotated[int, Meta(ge=MIN_PART_ID, le=MAX_PART_ID)]  # see inspector.part_ids
Count = Annotated[int, Meta(ge=0, le=MAX_INT64)]  # sequence numbers, counts, versions, generations
Int64 = Annotated[int, Meta(ge=-MAX_INT64 - 1, le=MAX_INT64)]  # a service's counters (SQLite and LINT tags hold them)
Int32 = Annotated[int, Meta(ge=0, le=MAX_INT32)]  # process ids; a frame's sides and channels (FrameHeader.check judges them)
RingSlot = Annotated[int, Meta(ge=-1, le=MAX_RING_SLOTS - 1)]  # -1: the pixels travel with the frame
Time = Annotated[float, Meta(ge=0.0, le=MAX_TIME)]
Finite = Annotated[float, Meta(ge=-sys.float_info.max, le=sys.float_info.max)]  # JSON has no NaN or infinity either


class Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A line message: immutable (change one with :func:`msgspec.structs.replace`); decoding refuses unknown fields."""


class FrameHeader(Message):
    station: str
    camera: str
    part_id: PartId
    seq: Count
    t_trigger: Time
    t_capture: Time
    height: Int32
    width: Int32
    channels: Int32
    dtype: str
    pixel_format: str
    source: str = ""  # where the pixels came from (synthetic part index, file path)
    # frames handed over in shared memory (see inspector.frame_ring): the ring's id, the slot, the write's generation
    ring: str = ""
    ring_slot: RingSlot = -1
    ring_generation: Count = 0

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


class PartSeen(Message):
    station: str
    camera: str
    part_id: PartId
    seq: Count
    t_trigger: Time


class Detection(Message):
    """A candidate defect and whether it rejected the part (see :mod:`inspector.engine.decision_rules`).

    ``score`` is in the model's normalised units (0..1 for a YOLO detector,
    unbounded for an anomaly model). ``area_px`` is the box's area for a
    detector and the pixels a map region covers for map families, whose
    regions also carry their ``outline``.
    """

    cls: str
    score: Finite
    box: tuple[Finite, Finite, Finite, Finite]  # x1, y1, x2, y2 in frame pixels
    area_px: Finite
    causes_reject: bool
    area_mm2: Finite | None = None
    model: str = ""  # the model (name@version) that found it, on a station running several
    outline: list[list[Finite]] = field(default_factory=list)  # [[x, y], ...] frame pixels; empty for boxes


class Verdict(Message):
    station: str
    camera: str
    part_id: PartId
    seq: Count
    result: VerdictResult
    t_trigger: Time
    t_verdict: Time
    model_version: str
    detections: list[Detection] = field(default_factory=list)
    timings_ms: dict[str, Finite] = field(default_factory=dict)
    reason: str = ""
    source: str = ""  # the frame's source (synthetic part index, file path)
    first_on_model: Count = 0  # 1..N for the first parts a newly swapped-in model decided (models.marked_parts), else 0

    @property
    def causes(self) -> list[Detection]:
        return [d for d in self.detections if d.causes_reject]


class Decision(Message):
    """The one decision a triggered part gets, as written to the PLC."""

    station: str
    camera: str
    part_id: PartId
    seq: Count
    result: DecisionResult
    source: DecisionSource
    t_trigger: Time
    t_decided: Time
    plc_delivered: bool
    t_plc_written: Time | None = None  # the PLC confirmed the write
    plc_error: str = ""
    verdict: Verdict | None = None
    t_plc_sent: Time | None = None  # the write request was handed to the PLC driver
    plc_seq: Count | None = None  # the result sequence number the PLC latched this decision with

    @property
    def latency_ms(self) -> float | None:
        """Trigger to PLC write, when the write happened."""
        return None if self.t_plc_written is None else (self.t_plc_written - self.t_trigger) * 1000


AlarmSeverity = Literal["info", "warning", "critical"]
AlarmKind = Literal["condition", "event"]
AlarmAction = Literal["acknowledge", "shelve", "unshelve"]


class Alarm(Message):
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
    t: Time
    active: bool = True
    part_id: PartId | None = None
    kind: AlarmKind = "condition"
    owner: str = ""

    @property
    def raised_by(self) -> str:
        return self.owner or self.source


class AlarmStanding(Message):
    """An owner's conditions that are active now, restated every second: whatever it no longer lists has cleared.

    A restarted owner's first statement clears what its previous run raised and
    no longer holds; a clearing lost on the way is repaired by the next one.
    """

    station: str
    owner: str
    t: Time
    alarms: list[Alarm] = field(default_factory=list)


class AlarmCommand(Message):
    """An operator's acknowledgement, or a quality engineer's shelving, of an alarm on the board (from the HMI).

    ``source`` and ``code`` empty with ``acknowledge``: every alarm shown now.
    """

    station: str
    action: AlarmAction
    source: str
    code: str
    user: str
    role: str
    t: Time
    reason: str = ""
    shelve_s: Finite = 0.0


class AlarmEntry(Message):
    """One alarm on the station's alarm board (ISA-18.2 states): active or not, acknowledged or not, shelved or not."""

    source: str
    code: str
    owner: str
    severity: AlarmSeverity
    kind: AlarmKind
    text: str
    active: bool
    t_raised: Time  # the latest occurrence
    t_changed: Time
    count: Count = 1  # occurrences since it was last acknowledged
    part_id: PartId | None = None
    acked: bool = False
    acked_by: str = ""
    t_acked: Time | None = None
    shelved_until: Time | None = None
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


class AlarmBoardState(Message):
    """The whole alarm board, from its one keeper (the actuator) to observers, on every change and every second."""

    station: str
    t: Time
    version: Count
    entries: list[AlarmEntry] = field(default_factory=list)


class Heartbeat(Message):
    service: str
    pid: Int32
    seq: Count
    t: Time
    counters: dict[str, Int64] = field(default_factory=dict)


MESSAGE_KINDS: dict[bytes, type[Message]] = {
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

M = TypeVar("M", bound=Message)


def _number(value: object) -> object:
    """A value msgspec does not encode itself: a numpy scalar, or a subclass of int or float, as its plain number."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    item = getattr(value, "item", None)  # numpy's scalars
    if callable(item):
        return item()
    raise TypeError(f"a {type(value).__name__} cannot travel in a message")


_ENCODER = msgspec.json.Encoder(enc_hook=_number)


def to_builtins(value: object) -> object:
    """A message (or a list of them) as plain dicts, lists, numbers and text, ready for ``json`` or a database row."""
    return msgspec.to_builtins(value, enc_hook=_number)


def to_json(message: object) -> bytes:
    """A message's JSON header (the same keys, in the same order, as its fields)."""
    try:
        return _ENCODER.encode(message)
    except UnicodeEncodeError:  # text that is not Unicode (a file name of undecodable bytes): sent with '?' for it
        text = json.dumps(to_builtins(message), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def encode(message: Message) -> list[bytes]:
    """The multipart form of a (non-frame) message."""
    return [KIND_OF[type(message)], to_json(message)]


def encode_header(header: FrameHeader) -> bytes:
    return to_json(header)


MAX_HEADER_BYTES = 4 * 1024 * 1024  # a verdict with hundreds of outlined detections is a few hundred KiB
MAX_SMALL_HEADER_BYTES = 64 * 1024  # frame headers, part-seen events, heartbeats, alarms
_LARGE = (Verdict, Decision, AlarmBoardState, AlarmStanding)
_DECODERS: dict[type, msgspec.json.Decoder] = {}


def decode_json(cls: type[M], payload: bytes | memoryview | str) -> M:
    """Strictly decode a JSON header into ``cls``; an oversized, malformed or out-of-bounds one is a MessageError."""
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    limit = MAX_HEADER_BYTES if cls in _LARGE else MAX_SMALL_HEADER_BYTES
    if size > limit:
        raise MessageError(f"{cls.__name__} header of {size} bytes refused: the limit is {limit}")
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = msgspec.json.Decoder(cls)
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as err:  # a ValidationError is a DecodeError
        raise MessageError(refusal(cls, payload, err)) from err


def decode(parts: list[bytes]) -> Message:
    """Decode a non-frame multipart message by its kind."""
    if len(parts) != 2:
        raise MessageError(f"expected 2 message parts (kind, header), got {len(parts)}")
    cls = MESSAGE_KINDS.get(bytes(parts[0]))
    if cls is None:
        raise MessageError(f"unknown message kind {bytes(parts[0])[:32]!r}")
    return decode_json(cls, parts[1])

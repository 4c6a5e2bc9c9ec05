"""Frames through shared memory: the pixels stay out of the encrypted ZeroMQ stream.

Encrypting a 300 KB frame with CURVE in the camera and decrypting it in the
detector costs about half a millisecond per part on the decision's path. When
camera and detectors run on one host (the frames endpoint is loopback or ipc),
the camera writes each frame into the next slot of a ring held in a file under
``/dev/shm`` that only the station's user can open (the trust boundary of the
station's key files), and sends only the frame header, authenticated and
encrypted by CURVE, naming the ring, the slot and the write's generation.

A detector copies the slot out and compares the slot's generation before and
after the copy: a frame overwritten because the detector fell a whole ring
behind is refused, and its part gets the fail-safe; another part's pixels are
never inspected as this part's. The ring file is checked before it is mapped:
a regular file owned by this user, readable by nobody else.

Layout: a file header (magic, slot count, slot size, ring id), then per slot a
64-byte header (generation, byte count) and the pixels. The generation is odd
while the camera writes a slot and even (2 x the write's number) when the write
is whole.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import secrets
import stat
import struct
from pathlib import Path

import numpy as np
from msgspec.structs import replace

from inspector.config.loader import is_local_endpoint
from inspector.config.schema import Config
from inspector.errors import ImageRefused
from inspector.messages import FrameHeader
from inspector.transport import MalformedFrame

log = logging.getLogger(__name__)

RING_DIR = Path("/dev/shm")
MAGIC = b"INSPRNG1"
FILE_HEADER = struct.Struct("<8sIIQ8s")  # magic, slots, reserved, slot bytes, ring id (8 random bytes)
FILE_HEADER_BYTES = 64
SLOT_HEADER = struct.Struct("<QQ")  # generation, byte count
SLOT_HEADER_BYTES = 64


def ring_path(state_dir: str, camera: str) -> Path:
    """The ring of one camera of one station (stations on one host are told apart by their state folder)."""
    key = hashlib.sha256(f"{Path(state_dir).resolve()}\0{camera}".encode()).hexdigest()[:24]
    return RING_DIR / f"inspector-frames-{key}"


def frame_limit_bytes(config: Config, camera: str) -> int:
    """The largest frame a camera may hand over: its own limit (``cameras[].max_frame_mb``, by default from its
    declared resolution), never above what a detector accepts (``transport.max_frame_mb``)."""
    return min(config.camera(camera).max_frame_bytes(), int(config.transport.max_frame_mb * 1024 * 1024))


def _slot_offset(slot: int, slot_bytes: int) -> int:
    return FILE_HEADER_BYTES + slot * (SLOT_HEADER_BYTES + slot_bytes)


class RingUnavailable(OSError):
    """The ring cannot be made here (no /dev/shm, not enough shared memory, a file of another user in the way)."""


class FrameRingWriter:
    """The camera's side: owns the ring file, writes each frame into the next slot."""

    def __init__(self, path: Path, slots: int, slot_bytes: int) -> None:
        self.path = path
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.ring_id = secrets.token_hex(8)
        self._writes = 0
        size = _slot_offset(slots, slot_bytes)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.new")
        try:
            temporary.unlink(missing_ok=True)  # left by a killed camera that had this pid
        except OSError:
            pass  # not ours: the exclusive create below says so
        try:
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise RingUnavailable(f"cannot create the frame ring {temporary}: {err}") from err
        mm = None
        try:
            os.posix_fallocate(fd, 0, size)  # reserved now: a full /dev/shm is an error here, not a SIGBUS later
            mm = mmap.mmap(fd, size)
            os.rename(temporary, path)  # a file of another user in the way (sticky /dev/shm) is refused here
        except OSError as err:
            if mm is not None:
                mm.close()
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise RingUnavailable(f"cannot make the frame ring {path} ({size / 1e6:.1f} MB): {err}") from err
        os.close(fd)
        self._mm = mm
        FILE_HEADER.pack_into(self._mm, 0, MAGIC, slots, 0, slot_bytes, bytes.fromhex(self.ring_id))

    def write(self, pixels: np.ndarray) -> tuple[int, int]:
        """Copy ``pixels`` into the next slot; returns (slot, generation) for the frame header."""
        data = memoryview(np.ascontiguousarray(pixels)).cast("B")
        if data.nbytes > self.slot_bytes:
            raise ValueError(f"frame of {data.nbytes} bytes does not fit the ring's {self.slot_bytes}-byte slots")
        self._writes += 1
        slot = self._writes % self.slots
        generation = 2 * self._writes
        offset = _slot_offset(slot, self.slot_bytes)
        SLOT_HEADER.pack_into(self._mm, offset, generation - 1, data.nbytes)  # odd: being written
        start = offset + SLOT_HEADER_BYTES
        self._mm[start:start + data.nbytes] = data
        SLOT_HEADER.pack_into(self._mm, offset, generation, data.nbytes)
        return slot, generation

    def close(self, *, remove: bool = True) -> None:
        self._mm.close()
        if remove:
            self.path.unlink(missing_ok=True)


class FrameRingReader:
    """A detector's side: maps a camera's ring read-only and copies frames out of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mm: mmap.mmap | None = None
        self.ring_id = ""
        self.slots = 0
        self.slot_bytes = 0

    def _open(self) -> None:
        self.close()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise RingUnavailable(f"cannot open the frame ring {self.path}: {err}") from err
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
                raise RingUnavailable(
                    f"frame ring {self.path} refused: it must be a regular file of this user (uid {os.geteuid()}) "
                    f"that no one else can read or write (owner uid {info.st_uid}, mode {stat.filemode(info.st_mode)})"
                )
            if info.st_size < FILE_HEADER_BYTES:
                raise RingUnavailable(f"frame ring {self.path} is {info.st_size} bytes, too short to be a ring")
            mm = mmap.mmap(fd, info.st_size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        magic, slots, _, slot_bytes, ring_id = FILE_HEADER.unpack_from(mm, 0)
        if magic != MAGIC or slots < 1 or _slot_offset(slots, slot_bytes) > len(mm):
            mm.close()
            raise RingUnavailable(f"frame ring {self.path} has no valid ring header")
        self._mm, self.slots, self.slot_bytes, self.ring_id = mm, slots, slot_bytes, ring_id.hex()

    def read(self, header: FrameHeader) -> np.ndarray:
        """The frame's pixels, copied out of the ring; :class:`MalformedFrame` if they are not there whole."""
        if self._mm is None or header.ring != self.ring_id:
            try:
                self._open()  # first frame, or the camera restarted and made a new ring
            except RingUnavailable as err:
                raise MalformedFrame(f"frame of part {header.part_id}: {err}", header) from err
            if header.ring != self.ring_id:
                raise MalformedFrame(
                    f"frame of part {header.part_id} names ring {header.ring!r}; the camera's ring is now {self.ring_id!r}",
                    header,
                )
        if not 0 <= header.ring_slot < self.slots or header.nbytes > self.slot_bytes:
            raise MalformedFrame(
                f"frame of part {header.part_id}: slot {header.ring_slot} of {header.nbytes} bytes does not fit the ring "
                f"({self.slots} slots of {self.slot_bytes} bytes)",
                header,
            )
        offset = _slot_offset(header.ring_slot, self.slot_bytes)
        self._check_generation(header, offset)
        pixels = np.frombuffer(self._mm, dtype=np.uint8, count=header.nbytes, offset=offset + SLOT_HEADER_BYTES).copy()
        self._check_generation(header, offset)  # not rewritten while it was copied
        return pixels.view(header.dtype).reshape(header.shape)

    def _check_generation(self, header: FrameHeader, offset: int) -> None:
        generation, nbytes = SLOT_HEADER.unpack_from(self._mm, offset)
        if generation != header.ring_generation or nbytes != header.nbytes:
            raise MalformedFrame(
                f"frame of part {header.part_id} was overwritten in the shared-memory ring before it was read "
                f"(the detector is more than {self.slots} frames behind the camera)",
                header,
            )

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None


class CameraRing:
    """How one camera hands its frames over: into its ring while that works, in the messages otherwise."""

    def __init__(self, config: Config, camera: str) -> None:
        self.enabled = config.transport.frame_handoff == "auto" and is_local_endpoint(config.transport.endpoint("frames", config.station.state_dir))
        self.path = ring_path(config.station.state_dir, camera)
        self.slots = config.transport.frame_ring_slots
        self.max_slot_bytes = frame_limit_bytes(config, camera)  # the ring never grows past the camera's frame limit
        self.writer: FrameRingWriter | None = None

    def place(self, header: FrameHeader, pixels: np.ndarray) -> FrameHeader | None:
        """The header naming the slot that now holds ``pixels``; None when the pixels must go in the message.
        :class:`ImageRefused` for a frame above the camera's limit: it goes nowhere."""
        if pixels.nbytes > self.max_slot_bytes:
            raise ImageRefused(
                f"frame of part {header.part_id} ({header.width}x{header.height}, {pixels.nbytes} bytes) is above the "
                f"camera's frame limit of {self.max_slot_bytes} bytes (cameras[].max_frame_mb, transport.max_frame_mb)"
            )
        if not self.enabled:
            return None
        if self.writer is None or pixels.nbytes > self.writer.slot_bytes:
            grown = max(pixels.nbytes, 2 * self.writer.slot_bytes) if self.writer else pixels.nbytes
            grown = min(grown, self.max_slot_bytes)
            try:
                self._replace_writer(grown)
            except RingUnavailable as err:
                log.warning("%s; frames travel in the ZeroMQ messages instead", err)
                self.enabled = False
                return None
        slot, generation = self.writer.write(pixels)
        return replace(header, ring=self.writer.ring_id, ring_slot=slot, ring_generation=generation)

    def _replace_writer(self, slot_bytes: int) -> None:
        old, self.writer = self.writer, None
        if old is not None:
            old.close(remove=False)  # the new ring takes its name; detectors still holding the old one keep reading it
        self.writer = FrameRingWriter(self.path, self.slots, slot_bytes)
        log.info("frames handed to the detectors through %s (%d slots of %.2f MB)", self.path, self.slots, slot_bytes / 1e6)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class StationRings:
    """A detector's readers: one per camera of the station config (a header cannot name any other file)."""

    def __init__(self, config: Config) -> None:
        self.readers = {cam.name: FrameRingReader(ring_path(config.station.state_dir, cam.name)) for cam in config.cameras}

    def read(self, header: FrameHeader) -> np.ndarray:
        reader = self.readers.get(header.camera)
        if reader is None:
            raise MalformedFrame(f"frame of part {header.part_id} from camera {header.camera!r}, which is not in the station config", header)
        return reader.read(header)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

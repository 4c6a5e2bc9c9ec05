"""Which package each model slot must run, and how far back it may go: pinning and anti-rollback.

A trusted signature says who released a package, not that it is the one this
station should run: the same key signs every release, older ones included.
So, as in TUF and Uptane, the station also knows *which* package to expect
and never moves back to an older release on its own. The rule is here, once;
the detector's start (:func:`inspector.model_trust.station_models`), its hot
swap and the registry's promotion all ask :meth:`AcceptedModels.judge`.

**The expected package of a slot** (``primary``, ``additional-1``, ...), first found:

1. a package promoted to the slot in the model registry: the sealed production
   pointer names it by content address;
2. ``models.pins.<slot>`` in the station config: a package id (the content
   address, or a prefix of at least 12 hex digits) or ``name@version``;
3. the package the slot last ran from the same file: another package put at
   the configured path is a substitution. (A slot whose configured path
   changed, and that has no pin, takes the package found there, subject to
   the rules below.)

**For every slot, pinned or not:**

- a name and a version are one package: once ``name@version`` was accepted,
  another package with that label is refused;
- the version never goes down on its own: a package older than the highest
  version of its name the station accepted is refused, unless it is the
  slot's audited rollback (``inspector model rollback``, the HMI's rollback
  signed with a PIN). Versions compare by their leading numbers, dot by dot
  (``1.10`` > ``1.9``, ``2026.12.1`` > ``2026.11.23``); a version without a
  leading number is not ordered, so only its pin protects it.

The station's record of what it accepted (per slot: the package, its label,
the file it ran from, an audited rollback; per name: the highest version;
per label: its package) is ``<station.state_dir>/accepted-models.json``,
outside every package folder, owner-only, written atomically and sealed
with the station's audit key: whoever can write the file but not read the
key cannot lower the floor. A refused package never reaches the record, nor
the last-known-good set.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inspector.config.models import model_slot_names
from inspector.config.schema import Config
from inspector.engine.model_package import load_model_package, metadata_path, sha256_of
from inspector.errors import ModelError

FORMAT = "inspector-accepted-models/1"
RECORD = "accepted-models.json"
SEAL_PURPOSE = "accepted-models"
PRIMARY = "primary"


class Sealer(Protocol):
    """What is needed of the station's audit trail (:class:`inspector.audit.AuditTrail`)."""

    def seal(self, purpose: str, data: bytes) -> str: ...


class ModelRefused(ModelError):
    """A package signed by a trusted key that is not the one the slot may run: what was expected, what was found."""

    def __init__(self, slot: str, expected: str, found: str) -> None:
        super().__init__(f"slot {slot}: expected {expected}; found {found}")
        self.slot, self.expected, self.found = slot, expected, found


def package_id(onnx_sha256: str, metadata_sha256: str) -> str:
    """The content address of a package: its weights and its metadata (thresholds, normalisation) together."""
    return hashlib.sha256(f"{onnx_sha256}\n{metadata_sha256}".encode()).hexdigest()


def content_id(onnx: Path) -> str:
    """The package id of a model file (installed or configured), from its content."""
    return package_id(sha256_of(onnx), sha256_of(metadata_path(onnx)))


def slot_names(config: Config) -> list[str]:
    """The station's model slots, in the detector's order."""
    return model_slot_names(len(config.detector.additional_models))


def version_key(version: str) -> tuple[int, ...] | None:
    """The leading numbers of a version (``v2.10.1-rc`` -> (2, 10, 1)), or None when it starts with none."""
    found = re.match(r"[vV]?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(n) for n in found.group(1).split(".")) if found else None


def is_older(version: str, than: str) -> bool:
    """Whether ``version`` is a lower release than ``than`` (False when either is not ordered)."""
    a, b = version_key(version), version_key(than)
    if a is None or b is None:
        return False
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)) < b + (0,) * (width - len(b))


@dataclass(frozen=True)
class Identity:
    """What a package is: its content address, name and version."""

    package_id: str
    name: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def __str__(self) -> str:
        return f"{self.label} (package {self.package_id[:12]})"


def identify(onnx: Path) -> Identity:
    """The identity of a package on disk (its metadata must load: :class:`ModelError` otherwise)."""
    meta = load_model_package(onnx).metadata
    return Identity(content_id(onnx), meta.name, meta.version)


@dataclass(frozen=True)
class Pin:
    """The package a slot must run, and who said so."""

    ref: str  # a package id (or a prefix of one) or name@version
    source: str

    def matches(self, identity: Identity) -> bool:
        if "@" in self.ref:
            return self.ref == identity.label
        return identity.package_id.startswith(self.ref)

    def __str__(self) -> str:
        what = f"package {self.ref[:12]}" if "@" not in self.ref else self.ref
        return f"{what} ({self.source})"


def configured_pins(config: Config) -> dict[str, Pin]:
    """The pins of the station config (``models.pins``), by slot."""
    return {slot: Pin(ref, f"models.pins.{slot} in the station config") for slot, ref in config.models.pins.items()}


def record_path(config: Config) -> Path:
    return Path(config.station.state_dir) / RECORD


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class AcceptedModels:
    """The station's sealed record of the packages it accepted, and the one rule (see the module's description)."""

    def __init__(self, path: Path, trail: Sealer) -> None:
        self.path = path
        self.trail = trail

    @classmethod
    def of_station(cls, config: Config, trail: Sealer) -> AcceptedModels:
        return cls(record_path(config), trail)

    # -- the record -------------------------------------------------------------------------
    def _seal(self, body: dict) -> str:
        return self.trail.seal(SEAL_PURPOSE, _canonical(body))

    def read(self) -> dict:
        """The record (empty before the first acceptance); :class:`ModelError` if it is malformed or not sealed."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"format": FORMAT, "slots": {}, "highest": {}, "labels": {}}
        except (OSError, ValueError) as err:
            raise ModelError(f"the record of accepted models {self.path} cannot be read: {err}") from err
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ModelError(f"the record of accepted models {self.path} is not in the format {FORMAT}")
        seal = document.pop("seal", "")
        if seal != self._seal(document):
            raise ModelError(f"the record of accepted models {self.path} does not carry the station's seal: it was "
                             "changed outside Inspector (or with another station's audit key)")
        for part in ("slots", "highest", "labels"):
            document.setdefault(part, {})
        return document

    def _write(self, body: dict) -> None:
        document = {**body, "seal": self._seal(body)}
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self.path)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict]:
        """The record to change, one writer at a time (detectors, the CLI, an HMI); written when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            body = self.read()
            yield body
            self._write(body)
        finally:
            os.close(fd)

    # -- the rule ---------------------------------------------------------------------------
    def judge(self, slot: str, path: Path, identity: Identity, pin: Pin | None, record: dict | None = None) -> None:
        """Whether ``slot`` may run ``identity`` from ``path``; :class:`ModelRefused` names what was expected and found."""
        record = self.read() if record is None else record
        ran = record["slots"].get(slot, {})
        if pin is not None and not pin.matches(identity):
            raise ModelRefused(slot, str(pin), f"{identity} at {path}")
        if pin is None and ran.get("path") == str(path) and ran.get("package") != identity.package_id:
            raise ModelRefused(slot, f"{ran.get('label')} (package {str(ran.get('package'))[:12]}), which the slot last ran "
                               "from this file (pin or promote another)", f"{identity} at {path}")
        known = record["labels"].get(identity.label)
        if known and known != identity.package_id:
            raise ModelRefused(slot, f"{identity.label} as first accepted (package {known[:12]}): a name and version are "
                               "one package", f"another {identity} at {path}")
        highest = record["highest"].get(identity.name)
        if highest and is_older(identity.version, highest["version"]) and ran.get("rollback_to") != identity.package_id:
            raise ModelRefused(slot, f"{identity.name} {highest['version']} or later (the highest the station accepted; "
                               f"going back is an audited rollback: inspector model rollback --to {identity.label})",
                               f"the older {identity} at {path}")

    def judge_set(self, slots: list[str], paths: list[Path], pins: dict[str, Pin]) -> list[Identity]:
        """:meth:`judge` for a whole model set (slot by slot, in order); the identities of its packages."""
        record = self.read()
        identities = []
        for slot, path in zip(slots, paths):
            identity = identify(path)
            self.judge(slot, path, identity, pins.get(slot), record)
            identities.append(identity)
        return identities

    def accept(self, slots: list[str], paths: list[Path], identities: list[Identity]) -> None:
        """Record that the slots run these packages now (their versions become the floor)."""
        with self._changing() as body:
            for slot, path, identity in zip(slots, paths, identities):
                before = body["slots"].get(slot, {})
                rollback_to = before.get("rollback_to", "") if before.get("rollback_to") == identity.package_id else ""
                body["slots"][slot] = {"package": identity.package_id, "label": identity.label, "path": str(path),
                                       "accepted_at": time.time(), "rollback_to": rollback_to}
                body["labels"].setdefault(identity.label, identity.package_id)
                highest = body["highest"].get(identity.name)
                if version_key(identity.version) is not None and (
                        highest is None or is_older(highest["version"], identity.version)):
                    body["highest"][identity.name] = {"version": identity.version, "package": identity.package_id}

    def allow_rollback(self, slot: str, identity: Identity) -> None:
        """An audited rollback of ``slot`` to ``identity``: the slot may run it though it is older than the highest."""
        with self._changing() as body:
            body["slots"].setdefault(slot, {})["rollback_to"] = identity.package_id

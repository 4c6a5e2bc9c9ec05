"""The production pointer: which registered package each model slot runs, sealed with the station's audit key.

``<registry>/production.json`` is the one record of what the line should run::

    {"format": "inspector-model-production/1", "serial": 7,
     "slots": {"primary": {"package": "<package id>", "history": ["", "<id>"],
                           "promoted_at": 1764400000.0, "promoted_by": "quality", "reason": "..."}},
     "seal": "<HMAC-SHA-256 under the audit key of the canonical JSON without 'seal'>"}

``package`` "" means the slot runs the model named in the station config;
``history`` holds the earlier production packages of the slot, oldest first,
so a rollback returns to the last-known-good one. The file is written
atomically, readable by its owner only, and sealed with the station's audit
key: whoever can write the file but not read the key cannot point the line at
another package. The detector reads it between parts.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inspector.errors import ModelError

FORMAT = "inspector-model-production/1"
SEAL_PURPOSE = "model-production"

Sealer = Callable[[bytes], str]


@dataclass(frozen=True)
class SlotState:
    """One model slot's production package and the ones before it."""

    package: str = ""  # package id; "" = the configured model
    history: tuple[str, ...] = ()  # earlier production packages, oldest first ("" = the configured model)
    promoted_at: float = 0.0
    promoted_by: str = ""
    reason: str = ""

    def to_json(self) -> dict:
        return {"package": self.package, "history": list(self.history), "promoted_at": self.promoted_at,
                "promoted_by": self.promoted_by, "reason": self.reason}


@dataclass(frozen=True)
class Production:
    serial: int = 0
    slots: dict[str, SlotState] = field(default_factory=dict)

    def slot(self, name: str) -> SlotState:
        return self.slots.get(name, SlotState())

    def body(self) -> dict:
        return {"format": FORMAT, "serial": self.serial,
                "slots": {name: state.to_json() for name, state in sorted(self.slots.items())}}


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def parse_pointer(raw: bytes, where: Path, seal: Sealer) -> Production:
    """The production state in ``raw``; :class:`ModelError` if it is malformed or its seal does not match."""
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format') if isinstance(document, dict) else None!r}, expected {FORMAT}")
        stored_seal = document.pop("seal")
        slots = {
            str(name): SlotState(str(s["package"]), tuple(str(h) for h in s["history"]), float(s["promoted_at"]),
                                 str(s["promoted_by"]), str(s["reason"]))
            for name, s in document["slots"].items()
        }
        production = Production(int(document["serial"]), slots)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ModelError(f"the production pointer {where} is malformed: {err}") from err
    if stored_seal != seal(canonical(production.body())):
        raise ModelError(
            f"the production pointer {where} does not carry the station's seal: it was changed outside "
            "'inspector model promote|rollback' (or with another station's audit key)"
        )
    return production


def read_pointer(path: Path, seal: Sealer) -> Production:
    """The sealed production state (empty when nothing was promoted yet)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return Production()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ModelError(f"the production pointer {path} is readable or writable by others (mode {info.st_mode & 0o777:o}); "
                         "it must be owner-only (chmod 600)")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ModelError(f"the production pointer {path} cannot be read: {err.strerror}") from err
    return parse_pointer(raw, path, seal)


def write_pointer(path: Path, production: Production, seal: Sealer) -> None:
    """Write the sealed state atomically (a reader sees the old file or the new one), owner-only."""
    body = production.body()
    document = {**body, "seal": seal(canonical(body))}
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)

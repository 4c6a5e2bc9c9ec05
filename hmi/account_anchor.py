"""The accounts' anchor: each HMI account's current version and seal, kept outside the database.

A sealed account row proves that Inspector wrote it, not that it is the
*latest* row Inspector wrote: whoever can write the database could keep a
copy of a row (an admin's, before ``set-role operator``; an account before
its wrong PINs were counted) and put it back later, seal and all. So every
change Inspector makes to an account raises the row's version (sealed with
the row) and records the version and the row's seal here, in
``hmi-accounts.json`` beside the station's audit key (the state folder),
as the audit trail's anchor records its entries. A row older than its
anchor was restored from a copy; a row that does not match its anchor at
the same version was not written by the station.

The file is owner-only, written atomically, and sealed with the audit key,
so whoever can write it but not read the key cannot make a stored row
current again. It also holds the lock put on an account whose row was
found restored: only an admin's explicit act (``inspector hmi set-role``)
lifts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hmi.roles import HmiError
from inspector.audit import AuditTrail

FORMAT = "inspector-hmi-accounts/1"
FILE = "hmi-accounts.json"
SEAL_PURPOSE = "hmi-accounts-anchor"


@dataclass(frozen=True)
class Anchored:
    """What the station last wrote for one account."""

    version: int
    seal: str
    locked: str = ""  # why the account is locked until an admin acts ('' = not)


def anchor_path(audit: AuditTrail) -> Path:
    """Beside the audit key: the folder only the station's user may write."""
    return audit.key_path.with_name(FILE)


class AccountAnchor:
    """The anchor of a station's HMI accounts (see the module's description)."""

    def __init__(self, audit: AuditTrail, path: Path | None = None) -> None:
        self.audit = audit
        self.path = path or anchor_path(audit)
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One account change at a time across processes (HMI, CLI): reading a row, writing it and anchoring it.
        Re-entrant within a process."""
        with self._mutex:
            if self._depth == 0:
                self._fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._fd)
                    self._fd = -1

    def _seal(self, accounts: dict) -> str:
        return self.audit.seal(SEAL_PURPOSE, json.dumps(accounts, sort_keys=True, separators=(",", ":")).encode())

    def _read(self) -> dict:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise HmiError(f"the accounts' anchor {self.path} cannot be read: {err}") from err
        if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("accounts"), dict):
            raise HmiError(f"the accounts' anchor {self.path} is not in the format {FORMAT}")
        if document.get("seal") != self._seal(document["accounts"]):
            raise HmiError(f"the accounts' anchor {self.path} does not carry the station's seal: it was changed outside "
                           "Inspector; no account can be checked against it")
        return document["accounts"]

    def get(self, name: str) -> Anchored | None:
        """The account's anchored version and seal (None: never anchored); :class:`HmiError` if the anchor was altered."""
        entry = self._read().get(name)
        if entry is None:
            return None
        try:
            return Anchored(int(entry["version"]), str(entry["seal"]), str(entry.get("locked", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise HmiError(f"the accounts' anchor {self.path} has a malformed entry for {name!r}") from err

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict]:
        with self.exclusive():
            accounts = self._read()
            yield accounts
            document = {"format": FORMAT, "accounts": accounts, "seal": self._seal(accounts)}
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(out, "w") as fh:
                fh.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.path)

    def record(self, name: str, version: int, seal: str, locked: str = "") -> None:
        """The row Inspector just wrote (version and seal), and whether the account stays locked."""
        with self._changing() as accounts:
            accounts[name] = {"version": version, "seal": seal, **({"locked": locked} if locked else {})}

    def lock(self, name: str, why: str) -> None:
        """Lock the account until an admin acts (its anchored version and seal unchanged)."""
        with self._changing() as accounts:
            entry = accounts.setdefault(name, {"version": 0, "seal": ""})
            entry["locked"] = why

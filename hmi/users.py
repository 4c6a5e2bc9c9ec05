"""Users with PINs (salted PBKDF2 hashes, never the PIN), and the login session with idle logout.

Each account row is **sealed**: an HMAC under the station's audit key (kept
outside the database, owner-only) over its name, role, PIN hash, wrong-PIN
count, lock and **version**. Someone who can write the database but not read
the key cannot make an admin with one UPDATE, nor zero the wrong-PIN count:
the changed row no longer matches its seal, and login refuses it (and says
so in the audit trail). Every change Inspector makes raises the version, and
the version and seal are anchored outside the database
(:mod:`hmi.account_anchor`): a sealed row put back from an old copy (an
admin's, from before ``set-role operator``) is older than its anchor, and
login refuses it and locks the account until an admin sets its role again.
Role changes go through :meth:`UserDirectory.set_role`, audited and
resealed. After ``LOCKOUT_AFTER`` wrong PINs in a row an account is locked
for ``LOCKOUT_S`` (kept in the database, so a restart does not reset it); an
admin can unlock it (``inspector hmi unlock-user``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

from hmi.account_anchor import AccountAnchor, Anchored
from hmi.roles import ROLES, AccessDenied, HmiError, LoginFailed, Permission, allowed
from inspector.audit import AuditTrail
from inspector.records.accounts import AccountRecord
from inspector.records.station import StationDatabase

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 200_000
PIN_DIGITS = (4, 8)
LOCKOUT_AFTER = 5  # wrong PINs in a row
LOCKOUT_S = 300.0

# The demo's documented users (docs/hmi.md); never created on a real station.
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("operator", "operator", "1111"),
    ("quality", "quality", "2222"),
    ("admin", "admin", "3333"),
)


@dataclass(frozen=True)
class User:
    name: str
    role: str


def hash_pin(pin: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)


class UserDirectory:
    """The HMI's accounts (stored in ``hmi_users``, :mod:`inspector.records.accounts`): sealed, versioned and anchored
    outside the database, locked after repeated wrong PINs."""

    def __init__(self, db: StationDatabase, audit: AuditTrail, iterations: int = PBKDF2_ITERATIONS,
                 lockout_after: int = LOCKOUT_AFTER, lockout_s: float = LOCKOUT_S,
                 clock: Callable[[], float] = time.time, anchor: AccountAnchor | None = None) -> None:
        self.db = db
        self.audit = audit
        self.iterations = iterations
        self.lockout_after = lockout_after
        self.lockout_s = lockout_s
        self.clock = clock
        self.anchor = anchor or AccountAnchor(audit)

    def _legacy_seal(self, name: str, role: str, salt: bytes, pin_hash: bytes, iterations: int) -> str:
        """The seal of a row from before versioned accounts (version 0)."""
        fields = [name.encode(), role.encode(), salt.hex().encode(), pin_hash.hex().encode(), str(iterations).encode()]
        return self.audit.seal("hmi-account", b"\0".join(fields))

    def _seal(self, name: str, row: AccountRecord) -> str:
        if row.version == 0:
            return self._legacy_seal(name, row.role, row.salt, row.pin_hash, row.iterations)
        fields = [name, row.role, row.salt.hex(), row.pin_hash.hex(), str(row.iterations), str(row.version),
                  str(row.failed_logins), repr(float(row.locked_until))]
        return self.audit.seal("hmi-account/2", b"\0".join(f.encode() for f in fields))

    def _anchored(self, name: str) -> Anchored | None:
        try:
            return self.anchor.get(name)
        except HmiError as err:
            self.audit.record(name, "accounts_anchor_broken", f"user:{name}", None, {"reason": str(err)})
            log.error("%s", err)
            raise LoginFailed(f"{err}: login refused") from err

    def _store(self, name: str, row: AccountRecord, anchored: Anchored | None, **changes) -> AccountRecord:
        """Write a change to an account: the next version, sealed, then anchored (which also lifts an anchored lock)."""
        new = row._replace(**changes, version=max(row.version, anchored.version if anchored else 0) + 1)
        seal = self._seal(name, new)
        self.db.write_account(name, new.role, new.failed_logins, new.locked_until, new.version, seal)
        self.anchor.record(name, new.version, seal)  # after the row: a crash between leaves the row one step ahead
        return new._replace(seal=seal)

    def add(self, name: str, role: str, pin: str) -> User:
        name = name.strip()
        if not name:
            raise HmiError("a user needs a name")
        if role not in ROLES:
            raise HmiError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if not (pin.isdigit() and PIN_DIGITS[0] <= len(pin) <= PIN_DIGITS[1]):
            raise HmiError(f"a PIN is {PIN_DIGITS[0]} to {PIN_DIGITS[1]} digits")
        salt = os.urandom(16)
        pin_hash = hash_pin(pin, salt, self.iterations)
        with self.anchor.exclusive():
            anchored = self._anchored(name)  # a name used before: its versions go on
            row = AccountRecord(role, salt, pin_hash, self.iterations, None, 0, 0.0, (anchored.version if anchored else 0) + 1)
            seal = self._seal(name, row)
            if not self.db.add_account(name, role, salt, pin_hash, self.iterations, time.time(), seal, row.version):
                raise HmiError(f"user {name!r} exists already")
            self.anchor.record(name, row.version, seal)
        return User(name, role)

    def users(self) -> list[User]:
        return [User(name, role) for name, role in self.db.account_names()]

    def _checked(self, name: str, row: AccountRecord, *, by_admin: bool = False) -> AccountRecord:
        """The account's row if it is the one the station last wrote; :class:`LoginFailed` (audited) otherwise.

        A row whose seal does not match was changed outside Inspector; a row older than its anchor was put back from
        a copy, and the account is locked until an admin sets its role again (``by_admin``: an admin's act, which an
        anchored lock does not stop). A row from before versioned accounts, or one step ahead of its anchor (a crash
        between writing the row and anchoring it), is anchored now."""
        if not (row.seal and hmac.compare_digest(row.seal, self._seal(name, row))):
            self.audit.record(name, "account_tampered", f"user:{name}", None, {"role": row.role})
            log.error("HMI account %r does not match its seal: changed outside Inspector; login refused", name)
            raise LoginFailed(f"the account {name} was changed outside Inspector and is refused; an admin must re-create it")
        anchored = self._anchored(name)
        if anchored is not None and anchored.locked and not by_admin:
            raise LoginFailed(f"{name} is locked: {anchored.locked}; an admin must set its role again (inspector hmi set-role)")
        if anchored is None and row.version > 1:
            why = f"its stored row is version {row.version}, and the station has no record of this account's versions"
        elif anchored is not None and (row.version < anchored.version
                                       or (row.version == anchored.version and row.seal != anchored.seal)):
            why = (f"its stored row (version {row.version}, role {row.role}) is an older copy put back outside Inspector: "
                   f"the station last wrote version {anchored.version}")
        else:
            if row.version == 0:
                return self._store(name, row, anchored)  # versioned and anchored from now on
            if anchored is None or row.version > anchored.version:
                self.anchor.record(name, row.version, row.seal)
            return row
        self.anchor.lock(name, why)
        self.audit.record(name, "account_replayed", f"user:{name}", None,
                          {"role": row.role, "row_version": row.version, "anchored_version": anchored.version if anchored else 0})
        log.error("HMI account %r refused and locked: %s", name, why)
        raise LoginFailed(f"the account {name} is locked: {why}; an admin must set its role again (inspector hmi set-role)")

    def verify(self, name: str, pin: str) -> User:
        with self.anchor.exclusive():
            row = self.db.account_record(name)
            if row is None:
                hash_pin(pin, b"0" * 16, self.iterations)  # same time for unknown users as for a wrong PIN
                raise LoginFailed("unknown user or wrong PIN")
            row = self._checked(name, row)
            now = self.clock()
            if row.locked_until and now < row.locked_until:
                self.audit.record(name, "login_locked", "hmi", None, {"locked_until": row.locked_until})
                minutes = max(1, round((row.locked_until - now) / 60))
                raise LoginFailed(f"{name} is locked for {minutes} more minute(s) after {row.failed_logins} wrong PINs; "
                                  "an admin can unlock it")
            if not hmac.compare_digest(hash_pin(pin, row.salt, row.iterations), row.pin_hash):
                self._failed(name, row, now)
                raise LoginFailed("unknown user or wrong PIN")
            if row.failed_logins or row.locked_until:
                self._store(name, row, self._anchored(name), failed_logins=0, locked_until=0.0)
            return User(name, row.role)

    def _failed(self, name: str, row: AccountRecord, now: float) -> None:
        failed = row.failed_logins + 1
        locked_until = now + self.lockout_s if failed >= self.lockout_after else 0.0
        self._store(name, row, self._anchored(name), failed_logins=failed, locked_until=locked_until)
        if locked_until:
            self.audit.record("hmi", "user_locked", f"user:{name}", None, {"failed_logins": failed, "locked_until": locked_until})
            log.warning("HMI account %r locked for %.0fs after %d wrong PINs", name, self.lockout_s, failed)

    def set_role(self, name: str, role: str, by: str) -> User:
        """Change a user's role: audited, resealed, anchored. Also how an admin takes back an account whose row was
        put back from an old copy: the role is stated again, and the lock lifted."""
        if role not in ROLES:
            raise HmiError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        with self.anchor.exclusive():
            row = self.db.account_record(name)
            if row is None:
                raise HmiError(f"no user {name!r}")
            anchored = self._anchored(name)
            self._store(name, row, anchored, role=role)
            restored = bool(anchored and (anchored.locked or row.version < anchored.version))
            self.audit.record(by, "user_role", f"user:{name}", {"role": row.role},
                              {"role": role, **({"restored_copy_replaced": True} if restored else {})})
        return User(name, role)

    def unlock(self, name: str, by: str) -> None:
        with self.anchor.exclusive():
            row = self.db.account_record(name)
            if row is None:
                raise HmiError(f"no user {name!r}")
            row = self._checked(name, row, by_admin=True)
            self._store(name, row, self._anchored(name), failed_logins=0, locked_until=0.0)
        self.audit.record(by, "user_unlock", f"user:{name}", None, None)


def add_user(users: UserDirectory, audit: AuditTrail, name: str, role: str, pin: str, by: str) -> User:
    """Create a user and record it (never the PIN) in the audit trail."""
    user = users.add(name, role, pin)
    audit.record(by, "user_add", f"user:{user.name}", None, {"role": user.role})
    return user


def ensure_demo_users(users: UserDirectory, audit: AuditTrail) -> bool:
    """Create the demo's documented users if the station has none; True if it did."""
    if users.users():
        return False
    for name, role, pin in DEMO_USERS:
        add_user(users, audit, name, role, pin, by="demo")
    return True


class Session:
    """Who is logged in; logs out after ``idle_timeout_s`` without a touch."""

    def __init__(self, users: UserDirectory, audit: AuditTrail, idle_timeout_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = users
        self.audit = audit
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.user: User | None = None
        self._last_touch = clock()

    def login(self, name: str, pin: str) -> User:
        try:
            user = self.users.verify(name, pin)
        except LoginFailed:
            self.audit.record(name, "login_failed", "hmi", None, None)
            raise
        if self.user is not None:
            self.logout("another user logged in")
        self.user = user
        self._last_touch = self.clock()
        self.audit.record(user.name, "login", "hmi", None, {"role": user.role})
        return user

    def logout(self, reason: str = "logged out") -> None:
        if self.user is None:
            return
        self.audit.record(self.user.name, "logout", "hmi", {"role": self.user.role}, {"reason": reason})
        self.user = None

    def touch(self) -> None:
        self._last_touch = self.clock()

    def idle_s(self) -> float:
        return self.clock() - self._last_touch

    def expire_if_idle(self) -> bool:
        """Log out when idle too long; True if that happened now."""
        if self.user is not None and self.idle_s() >= self.idle_timeout_s:
            self.logout(f"idle for {self.idle_timeout_s:.0f}s")
            return True
        return False

    def can(self, permission: Permission) -> bool:
        return allowed(self.user.role if self.user else None, permission)

    def require(self, permission: Permission) -> User:
        """The logged-in user if allowed ``permission``; :class:`AccessDenied` otherwise."""
        if self.user is None:
            raise AccessDenied(f"log in to {permission.value}")
        if not allowed(self.user.role, permission):
            raise AccessDenied(f"{self.user.name} ({self.user.role}) may not {permission.value}")
        self.touch()
        return self.user

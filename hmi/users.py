"""Users with PINs (salted PBKDF2 hashes, never the PIN), and the login session with idle logout.

Each account row is **sealed**: an HMAC under the station's audit key (kept
outside the database, owner-only) over its name, role and PIN hash. Someone
who can write the database but not read the key cannot make an admin with
one UPDATE: the changed row no longer matches its seal, and login refuses it
(and says so in the audit trail). Role changes go through
:meth:`UserDirectory.set_role`, audited and resealed. After
``LOCKOUT_AFTER`` wrong PINs in a row an account is locked for
``LOCKOUT_S`` (kept in the database, so a restart does not reset it); an
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

from hmi.roles import ROLES, AccessDenied, HmiError, LoginFailed, Permission, allowed
from inspector.audit import AuditTrail
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
    """The HMI's accounts (stored in ``hmi_users``, :mod:`inspector.records.accounts`): sealed, locked after repeated
    wrong PINs."""

    def __init__(self, db: StationDatabase, audit: AuditTrail, iterations: int = PBKDF2_ITERATIONS,
                 lockout_after: int = LOCKOUT_AFTER, lockout_s: float = LOCKOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.audit = audit
        self.iterations = iterations
        self.lockout_after = lockout_after
        self.lockout_s = lockout_s
        self.clock = clock

    def _seal(self, name: str, role: str, salt: bytes, pin_hash: bytes, iterations: int) -> str:
        fields = [name.encode(), role.encode(), salt.hex().encode(), pin_hash.hex().encode(), str(iterations).encode()]
        return self.audit.seal("hmi-account", b"\0".join(fields))

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
        if not self.db.add_account(name, role, salt, pin_hash, self.iterations, time.time(),
                                   self._seal(name, role, salt, pin_hash, self.iterations)):
            raise HmiError(f"user {name!r} exists already")
        return User(name, role)

    def users(self) -> list[User]:
        return [User(name, role) for name, role in self.db.account_names()]

    def verify(self, name: str, pin: str) -> User:
        row = self.db.account(name)
        if row is None:
            hash_pin(pin, b"0" * 16, self.iterations)  # same time for unknown users as for a wrong PIN
            raise LoginFailed("unknown user or wrong PIN")
        role, salt, stored, iterations, seal, failed, locked_until = row
        now = self.clock()
        if locked_until and now < locked_until:
            self.audit.record(name, "login_locked", "hmi", None, {"locked_until": locked_until})
            minutes = max(1, round((locked_until - now) / 60))
            raise LoginFailed(f"{name} is locked for {minutes} more minute(s) after {failed} wrong PINs; an admin can unlock it")
        if not (seal and hmac.compare_digest(seal, self._seal(name, role, salt, stored, iterations))):
            self.audit.record(name, "account_tampered", f"user:{name}", None, {"role": role})
            log.error("HMI account %r does not match its seal: changed outside Inspector; login refused", name)
            raise LoginFailed(f"the account {name} was changed outside Inspector and is refused; an admin must re-create it")
        if not hmac.compare_digest(hash_pin(pin, salt, iterations), stored):
            self._failed(name, failed + 1, now)
            raise LoginFailed("unknown user or wrong PIN")
        if failed:
            self.db.set_login_failures(name, 0, 0)
        return User(name, role)

    def _failed(self, name: str, failed: int, now: float) -> None:
        locked_until = now + self.lockout_s if failed >= self.lockout_after else 0.0
        self.db.set_login_failures(name, failed, locked_until)
        if locked_until:
            self.audit.record("hmi", "user_locked", f"user:{name}", None, {"failed_logins": failed, "locked_until": locked_until})
            log.warning("HMI account %r locked for %.0fs after %d wrong PINs", name, self.lockout_s, failed)

    def set_role(self, name: str, role: str, by: str) -> User:
        """Change a user's role: audited, and the account resealed."""
        if role not in ROLES:
            raise HmiError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        row = self.db.account(name)
        if row is None:
            raise HmiError(f"no user {name!r}")
        before, salt, pin_hash, iterations = row[:4]
        self.db.set_account_role(name, role, self._seal(name, role, salt, pin_hash, iterations))
        self.audit.record(by, "user_role", f"user:{name}", {"role": before}, {"role": role})
        return User(name, role)

    def unlock(self, name: str, by: str) -> None:
        if not self.db.set_login_failures(name, 0, 0):
            raise HmiError(f"no user {name!r}")
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

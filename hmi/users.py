"""Users with PINs (salted PBKDF2 hashes, never the PIN), and the login session with idle logout."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable

from hmi.data import HmiDatabase
from hmi.roles import ROLES, AccessDenied, HmiError, LoginFailed, Permission, allowed
from inspector.audit import AuditTrail

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 200_000
PIN_DIGITS = (4, 8)

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
    """The ``hmi_users`` table."""

    def __init__(self, db: HmiDatabase, iterations: int = PBKDF2_ITERATIONS) -> None:
        self.db = db
        self.iterations = iterations

    def add(self, name: str, role: str, pin: str) -> User:
        name = name.strip()
        if not name:
            raise HmiError("a user needs a name")
        if role not in ROLES:
            raise HmiError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if not (pin.isdigit() and PIN_DIGITS[0] <= len(pin) <= PIN_DIGITS[1]):
            raise HmiError(f"a PIN is {PIN_DIGITS[0]} to {PIN_DIGITS[1]} digits")
        salt = os.urandom(16)
        try:
            with self.db.conn:
                self.db.conn.execute(
                    "INSERT INTO hmi_users (name, role, salt, pin_hash, iterations, created) VALUES (?,?,?,?,?,?)",
                    (name, role, salt, hash_pin(pin, salt, self.iterations), self.iterations, time.time()),
                )
        except sqlite3.IntegrityError as err:
            raise HmiError(f"user {name!r} exists already") from err
        except sqlite3.Error as err:
            raise HmiError(f"cannot add user {name!r}: {err}") from err
        return User(name, role)

    def users(self) -> list[User]:
        rows = self.db.conn.execute("SELECT name, role FROM hmi_users ORDER BY role, name").fetchall()
        return [User(r[0], r[1]) for r in rows]

    def verify(self, name: str, pin: str) -> User:
        row = self.db.conn.execute("SELECT role, salt, pin_hash, iterations FROM hmi_users WHERE name = ?", (name,)).fetchone()
        if row is None:
            hash_pin(pin, b"0" * 16, self.iterations)  # same time for unknown users as for a wrong PIN
            raise LoginFailed("unknown user or wrong PIN")
        role, salt, stored, iterations = row
        if not hmac.compare_digest(hash_pin(pin, salt, iterations), stored):
            raise LoginFailed("unknown user or wrong PIN")
        return User(name, role)


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

"""The ``hmi_users`` table: the HMI's accounts as stored (salted PIN hashes, seals, lockout).

What an account means (PINs, seals under the audit key, lockout) is the
HMI's (:mod:`hmi.users`); this is only its storage, mixed into
:class:`~.station.StationDatabase`.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from inspector.errors import StoreError


class AccountRow(NamedTuple):
    role: str
    salt: bytes
    pin_hash: bytes
    iterations: int
    seal: str | None
    failed_logins: int
    locked_until: float


class Accounts:
    """Given ``conn``, ``path``, ``_rows`` and ``_write`` by the class it is mixed into."""

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def _write(self, sql: str, args: tuple | list, what: str, many: bool = False) -> int:
        raise NotImplementedError

    def add_account(self, name: str, role: str, salt: bytes, pin_hash: bytes, iterations: int, created: float, seal: str) -> bool:
        """Store a new account; False when one of that name exists already."""
        try:
            self._write("INSERT INTO hmi_users (name, role, salt, pin_hash, iterations, created, seal) VALUES (?,?,?,?,?,?,?)",
                        (name, role, salt, pin_hash, iterations, created, seal), f"add user {name!r}")
        except StoreError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError):  # the name is taken; any other refusal is raised
                return False
            raise
        return True

    def account_names(self) -> list[tuple[str, str]]:
        """(name, role) of every account, by role and name."""
        return [(r[0], r[1]) for r in self._rows("SELECT name, role FROM hmi_users ORDER BY role, name")]

    def account(self, name: str) -> AccountRow | None:
        rows = self._rows("SELECT role, salt, pin_hash, iterations, seal, failed_logins, locked_until FROM hmi_users WHERE name = ?",
                          (name,))
        return AccountRow(*rows[0]) if rows else None

    def set_login_failures(self, name: str, failed: int, locked_until: float) -> int:
        """How many wrong PINs in a row, and until when the account is locked (0: not); how many accounts changed."""
        return self._write("UPDATE hmi_users SET failed_logins = ?, locked_until = ? WHERE name = ?", (failed, locked_until, name),
                           "update the HMI's users")

    def set_account_role(self, name: str, role: str, seal: str) -> int:
        return self._write("UPDATE hmi_users SET role = ?, seal = ? WHERE name = ?", (role, seal, name), "update the HMI's users")

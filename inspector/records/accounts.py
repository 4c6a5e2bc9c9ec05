"""The ``hmi_users`` table: the HMI's accounts as stored (salted PIN hashes, seals, lockout).

What an account means (PINs, seals under the audit key, lockout) is the
HMI's (:mod:`hmi.users`); this is only its storage, mixed into
:class:`~.station.StationDatabase`.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from inspector.errors import StoreError


class AccountRecord(NamedTuple):
    """An account as stored, with its version (raised by every change Inspector makes, sealed with the row)."""

    role: str
    salt: bytes
    pin_hash: bytes
    iterations: int
    seal: str | None
    failed_logins: int
    locked_until: float
    version: int


class Accounts:
    """Given ``conn``, ``path``, ``_rows`` and ``_write`` by the class it is mixed into."""

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def _write(self, sql: str, args: tuple | list, what: str, many: bool = False) -> int:
        raise NotImplementedError

    def add_account(self, name: str, role: str, salt: bytes, pin_hash: bytes, iterations: int, created: float, seal: str,
                    version: int = 0) -> bool:
        """Store a new account; False when one of that name exists already."""
        try:
            self._write("INSERT INTO hmi_users (name, role, salt, pin_hash, iterations, created, seal, version) "
                        "VALUES (?,?,?,?,?,?,?,?)",
                        (name, role, salt, pin_hash, iterations, created, seal, version), f"add user {name!r}")
        except StoreError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError):  # the name is taken; any other refusal is raised
                return False
            raise
        return True

    def account_names(self) -> list[tuple[str, str]]:
        """(name, role) of every account, by role and name."""
        return [(r[0], r[1]) for r in self._rows("SELECT name, role FROM hmi_users ORDER BY role, name")]

    def account_record(self, name: str) -> AccountRecord | None:
        rows = self._rows("SELECT role, salt, pin_hash, iterations, seal, failed_logins, locked_until, version "
                          "FROM hmi_users WHERE name = ?", (name,))
        return AccountRecord(*rows[0]) if rows else None

    def write_account(self, name: str, role: str, failed: int, locked_until: float, version: int, seal: str) -> int:
        """An account's role, wrong PINs in a row, lock (0: none), version and seal; how many accounts changed."""
        return self._write("UPDATE hmi_users SET role = ?, failed_logins = ?, locked_until = ?, version = ?, seal = ? "
                           "WHERE name = ?", (role, failed, locked_until, version, seal, name), "update the HMI's users")

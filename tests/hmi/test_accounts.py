"""HMI accounts an attacker with write access to the database cannot promote, and PINs that cannot be guessed at the panel."""

from __future__ import annotations

import sqlite3

import pytest

from hmi.roles import HmiError, LoginFailed
from hmi.users import LOCKOUT_AFTER, UserDirectory
from tests.hmi.conftest import PINS


def test_one_update_does_not_make_an_admin(users, audit, db):
    with sqlite3.connect(db.path) as attacker:
        attacker.execute("UPDATE hmi_users SET role = 'admin' WHERE name = 'olga'")
    with pytest.raises(LoginFailed, match="olga was changed outside Inspector"):
        users.verify("olga", PINS["olga"][1])
    assert audit.latest("account_tampered", "user:olga").after == {"role": "admin"}


def test_a_copied_pin_hash_or_a_forged_row_is_refused(users, db):
    with sqlite3.connect(db.path) as attacker:
        attacker.execute(
            "INSERT INTO hmi_users (name, role, salt, pin_hash, iterations, created, seal) "
            "SELECT 'mallory', 'admin', salt, pin_hash, iterations, created, seal FROM hmi_users WHERE name = 'olga'"
        )
    with pytest.raises(LoginFailed, match="mallory was changed outside Inspector"):
        users.verify("mallory", PINS["olga"][1])


def test_a_role_change_through_inspector_is_audited_and_logs_in(users, audit):
    users.set_role("olga", "quality", by="ada")
    assert users.verify("olga", PINS["olga"][1]).role == "quality"
    entry = audit.latest("user_role", "user:olga")
    assert (entry.user, entry.before, entry.after) == ("ada", {"role": "operator"}, {"role": "quality"})
    with pytest.raises(HmiError, match="unknown role"):
        users.set_role("olga", "root", by="ada")


def test_repeated_wrong_pins_lock_the_account_until_the_time_is_up_or_an_admin_unlocks_it(db, audit):
    now = [1000.0]
    users = UserDirectory(db, audit, iterations=2_000, clock=lambda: now[0])
    users.add("olga", "operator", "4711")
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(LoginFailed, match="unknown user or wrong PIN"):
            users.verify("olga", "0000")
    with pytest.raises(LoginFailed, match="olga is locked for 5 more minute"):
        users.verify("olga", "4711")  # even the right PIN, while locked
    assert audit.latest("user_locked", "user:olga").after["failed_logins"] == LOCKOUT_AFTER
    now[0] += 301
    assert users.verify("olga", "4711").role == "operator"
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(LoginFailed):
            users.verify("olga", "0000")
    users.unlock("olga", by="ada")
    assert users.verify("olga", "4711").role == "operator"
    assert audit.latest("user_unlock", "user:olga").user == "ada"


def test_a_right_pin_resets_the_count_of_wrong_ones(db, audit):
    users = UserDirectory(db, audit, iterations=2_000)
    users.add("olga", "operator", "4711")
    for _ in range(3):
        for _ in range(LOCKOUT_AFTER - 1):
            with pytest.raises(LoginFailed):
                users.verify("olga", "0000")
        assert users.verify("olga", "4711").role == "operator"


def test_the_database_is_owner_only(db):
    assert oct(db.path.stat().st_mode & 0o777) == "0o600"

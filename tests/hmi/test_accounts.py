"""HMI accounts an attacker with write access to the database cannot promote, and PINs that cannot be guessed at the panel."""

from __future__ import annotations

import json
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


# -- replayed rows: the accounts' anchor outside the database ----------------------------------------------------

COLUMNS = "role, salt, pin_hash, iterations, created, seal, failed_logins, locked_until, version"


def copy_row(db, name: str) -> tuple:
    """What a database writer keeps aside: the account's whole sealed row, as stored now."""
    with sqlite3.connect(db.path) as attacker:
        return attacker.execute(f"SELECT {COLUMNS} FROM hmi_users WHERE name = ?", (name,)).fetchone()


def put_back(db, name: str, row: tuple) -> None:
    with sqlite3.connect(db.path) as attacker:
        attacker.execute(f"UPDATE hmi_users SET ({COLUMNS}) = ({', '.join('?' * len(row))}) WHERE name = ?", (*row, name))


def test_an_old_sealed_row_put_back_is_refused_and_locks_the_account_until_an_admin_sets_its_role(users, audit, db):
    as_admin = copy_row(db, "ada")  # sealed by Inspector, while ada was an admin
    users.set_role("ada", "operator", by="cli:integrator")
    current = copy_row(db, "ada")
    put_back(db, "ada", as_admin)
    with pytest.raises(LoginFailed, match=r"ada is locked: .*role admin\) is an older copy .*set its role again"):
        users.verify("ada", PINS["ada"][1])
    entry = audit.latest("account_replayed", "user:ada")
    assert entry.after["role"] == "admin" and entry.after["row_version"] < entry.after["anchored_version"]

    put_back(db, "ada", current)  # the right row back: the account stays locked until an admin acts
    with pytest.raises(LoginFailed, match="ada is locked: .*older copy"):
        users.verify("ada", PINS["ada"][1])
    put_back(db, "ada", as_admin)
    with pytest.raises(LoginFailed, match="older copy"):
        users.unlock("ada", by="cli:integrator")  # unlocking does not make the old row current
    users.set_role("ada", "operator", by="cli:integrator")
    assert users.verify("ada", PINS["ada"][1]).role == "operator"
    assert audit.latest("user_role", "user:ada").after == {"role": "operator", "restored_copy_replaced": True}


def test_the_failed_login_counter_cannot_be_reset_by_a_database_writer(users, audit, db):
    before = copy_row(db, "olga")
    for _ in range(LOCKOUT_AFTER - 1):
        with pytest.raises(LoginFailed, match="unknown user or wrong PIN"):
            users.verify("olga", "0000")
    with sqlite3.connect(db.path) as attacker:
        attacker.execute("UPDATE hmi_users SET failed_logins = 0, locked_until = 0 WHERE name = 'olga'")
    with pytest.raises(LoginFailed, match="olga was changed outside Inspector"):
        users.verify("olga", PINS["olga"][1])
    assert audit.latest("account_tampered", "user:olga") is not None

    put_back(db, "olga", before)  # or the sealed row from before the wrong PINs
    with pytest.raises(LoginFailed, match="olga is locked: .*older copy"):
        users.verify("olga", PINS["olga"][1])


def test_an_account_from_before_versions_is_anchored_at_its_first_login_and_its_old_row_then_refused(users, audit, db):
    legacy = users._legacy_seal("olga", "operator", *copy_row(db, "olga")[1:4])
    with sqlite3.connect(db.path) as old_station:  # the row as a station before versioned accounts stored it
        old_station.execute("UPDATE hmi_users SET version = 0, seal = ? WHERE name = 'olga'", (legacy,))
    users.anchor.path.unlink()
    old_row = copy_row(db, "olga")
    assert users.verify("olga", PINS["olga"][1]).role == "operator"
    assert copy_row(db, "olga")[-1] == 1 and users.anchor.get("olga").version == 1
    put_back(db, "olga", old_row)
    with pytest.raises(LoginFailed, match="older copy"):
        users.verify("olga", PINS["olga"][1])


def test_the_anchor_is_owner_only_and_sealed(users, db):
    path = users.anchor.path
    assert path.parent == users.audit.key_path.parent and oct(path.stat().st_mode & 0o777) == "0o600"
    document = json.loads(path.read_text())
    document["accounts"]["ada"]["version"] -= 1  # an old copy of ada made current again, without the audit key
    path.write_text(json.dumps(document))
    with pytest.raises(LoginFailed, match="does not carry the station's seal"):
        users.verify("ada", PINS["ada"][1])

"""The audit trail: append-only, hash-chained; any edit or deletion is found by verify()."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspector.audit import GENESIS_HASH, AuditError, AuditTrail
from inspector.cli import main


def filled_trail(path: Path, entries: int = 5) -> AuditTrail:
    trail = AuditTrail(path)
    for i in range(entries):
        trail.record(
            "alice", "calibration.scale", "top",
            before={"mm_per_px": None if i == 0 else 0.1 * i}, after={"mm_per_px": 0.1 * (i + 1)}, t=1_700_000_000.0 + i,
        )
    return trail


def tamper(path: Path, *statements: str) -> None:
    """What someone with the sqlite3 shell could do: drop the append-only triggers, then change rows."""
    db = sqlite3.connect(str(path))
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()


def test_entries_are_chained_by_their_hashes_and_an_untouched_trail_verifies(tmp_path):
    trail = filled_trail(tmp_path / "audit.db")
    entries = trail.entries()
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
    assert entries[2].user == "alice" and entries[2].before == {"mm_per_px": 0.2} and entries[2].after == {"mm_per_px": 0.30000000000000004}
    assert trail.verify() is None


def test_a_second_connection_appends_to_the_same_chain(tmp_path):
    filled_trail(tmp_path / "audit.db", 2).close()
    with AuditTrail(tmp_path / "audit.db") as other:
        entry = other.record("bob", "verification", "station-1", after={"passed": True})
        assert entry.id == 3
        assert other.verify() is None
        assert other.latest("verification", "station-1").user == "bob"


def test_plain_update_and_delete_are_refused_by_the_database(tmp_path):
    filled_trail(tmp_path / "audit.db").close()
    db = sqlite3.connect(str(tmp_path / "audit.db"))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET user = 'mallory' WHERE id = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit WHERE id = 2")
    db.close()


def test_an_edited_entry_is_the_first_broken_one(tmp_path):
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    tamper(path, """UPDATE audit SET after = '{"mm_per_px":0.5}' WHERE id = 3""")
    broken = AuditTrail(path).verify()
    assert broken is not None
    assert broken.entry_id == 3
    assert "edited" in broken.reason


def test_an_edit_whose_hashes_were_recomputed_without_the_key_is_found_at_the_edited_entry(tmp_path):
    """What someone with write access to the database, but not to the key file, can do: rewrite the whole chain."""
    import hashlib

    from inspector.audit import canonical_json

    path = tmp_path / "audit.db"
    filled_trail(path).close()
    db = sqlite3.connect(str(path))
    rows = db.execute("SELECT id, t, user, action, target, before, after FROM audit ORDER BY id").fetchall()
    db.close()
    statements, prev = [], GENESIS_HASH
    for entry_id, t, user, action, target, before, after in rows:
        user = "mallory" if entry_id == 2 else user
        content = canonical_json([entry_id, repr(float(t)), user, action, target, before, after, prev])
        digest = hashlib.sha256(content.encode()).hexdigest()  # the unkeyed chain: what the forger can compute
        statements.append(f"UPDATE audit SET user = '{user}', prev_hash = '{prev}', hash = '{digest}' WHERE id = {entry_id}")
        prev = digest
    statements.append(f"UPDATE audit_head SET last_hash = '{prev}'")
    tamper(path, *statements)
    broken = AuditTrail(path).verify()
    assert broken is not None and broken.entry_id == 1 and "keyed hash" in broken.reason


def test_the_key_lives_outside_the_database_readable_by_its_owner_only(tmp_path):
    import stat

    filled_trail(tmp_path / "audit.db").close()
    key = tmp_path / "audit.key"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "audit.db").stat().st_mode) == 0o600
    assert key.read_text().strip() not in (tmp_path / "audit.db").read_bytes().hex()
    key.unlink()
    with pytest.raises(AuditError, match="audit key .* is missing"):
        AuditTrail(tmp_path / "audit.db", readonly=True)


def test_truncating_the_trail_and_rewinding_every_counter_is_found_by_the_anchor(tmp_path):
    path = tmp_path / "audit.db"
    trail = filled_trail(path)
    third = trail.entries()[2]
    trail.close()
    tamper(
        path,
        "DELETE FROM audit WHERE id > 3",
        f"UPDATE audit_head SET entries = 3, last_hash = '{third.hash}'",
        "UPDATE sqlite_sequence SET seq = 3 WHERE name = 'audit'",
    )
    broken = AuditTrail(path).verify()
    assert broken is not None and broken.entry_id == 4 and "anchor records entries up to 5" in broken.reason


def test_an_emptied_or_deleted_trail_is_not_an_intact_one(tmp_path, capsys):
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    tamper(path, "DELETE FROM audit", "UPDATE audit_head SET entries = 0, last_hash = '" + GENESIS_HASH + "'",
           "DELETE FROM sqlite_sequence")
    broken = AuditTrail(path, readonly=True).verify()
    assert broken is not None and "entries at the end were removed" in broken.reason
    path.unlink()
    assert main(["audit", "verify", "--database", str(path)]) == 2  # no trail where one was anchored is an error
    assert "no audit database" in capsys.readouterr().err


def test_verify_writes_nothing(tmp_path):
    """The database, its key and its anchor are untouched (SQLite may make its own lock files beside a WAL database)."""
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    files = [path, tmp_path / "audit.key", tmp_path / "audit.anchor"]
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    path.chmod(0o400)  # even a read-only file verifies
    with AuditTrail(path, readonly=True) as trail:
        assert trail.verify() is None
        with pytest.raises(AuditError):
            trail.record("mallory", "x", "y")
    path.chmod(0o600)
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    assert after == before


def test_a_deleted_entry_in_the_middle_is_found_at_its_successor(tmp_path):
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    tamper(path, "DELETE FROM audit WHERE id = 2")
    broken = AuditTrail(path).verify()
    assert broken is not None
    assert broken.entry_id == 3
    assert "id 2" in broken.reason and "deleted" in broken.reason


def test_a_deleted_first_entry_is_found(tmp_path):
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    tamper(path, "DELETE FROM audit WHERE id = 1")
    broken = AuditTrail(path).verify()
    assert broken is not None and broken.entry_id == 2


def test_deleted_last_entries_are_found_even_with_the_head_rewound(tmp_path):
    path = tmp_path / "audit.db"
    trail = filled_trail(path)
    fourth = trail.entries()[3]
    trail.close()
    tamper(
        path,
        "DELETE FROM audit WHERE id = 5",
        f"UPDATE audit_head SET entries = 4, last_hash = '{fourth.hash}'",
    )
    broken = AuditTrail(path).verify()
    assert broken is not None
    assert broken.entry_id == 5
    assert "missing" in broken.reason


def test_before_and_after_must_be_json_data(tmp_path):
    with AuditTrail(tmp_path / "audit.db") as trail:
        with pytest.raises(AuditError, match="plain JSON"):
            trail.record("alice", "x", "y", after={"when": object()})
        assert trail.count() == 0


def test_audit_verify_command_exits_0_when_intact_and_1_naming_the_broken_entry(tmp_path, capsys):
    path = tmp_path / "audit.db"
    filled_trail(path).close()
    own = ["--key", str(tmp_path / "audit.key"), "--anchor", str(tmp_path / "audit.anchor")]  # the station's own
    assert main(["audit", "verify", "--database", str(path), *own]) == 0
    assert "5 entries, chain intact" in capsys.readouterr().out

    tamper(path, "UPDATE audit SET target = 'bottom' WHERE id = 4")
    assert main(["audit", "verify", "--database", str(path), *own]) == 1
    assert "BROKEN at entry 4: its content does not match its keyed hash" in capsys.readouterr().out


def test_audit_verify_of_a_missing_database_is_an_error_not_an_empty_trail(tmp_path, capsys):
    assert main(["audit", "verify", "--database", str(tmp_path / "nope.db")]) == 2
    assert "no audit database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_audit_verify_finds_the_station_trail_from_its_config(tmp_path):
    import subprocess
    import sys

    from calibration.station import open_audit_trail
    from inspector.config import DEFAULT_CONFIG, load_config, write_config
    from inspector.line_setup import local_line_config

    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path)
    write_config(config, tmp_path / "station.yaml")
    with open_audit_trail(config) as trail:
        trail.record("maria", "login", "hmi", None, {"role": "quality"})
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "audit", "verify", "--config", str(tmp_path / "station.yaml")],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "1 entries, chain intact" in run.stdout


def inspector_cli(*args: str):
    """``python -m inspector ...`` as a real process, as an auditor runs it."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def station_trail(tmp_path):
    """A station config with three audited actions: (config file, its audit database, key, anchor)."""
    from calibration.station import calibration_paths, open_audit_trail
    from inspector.config import DEFAULT_CONFIG, load_config, write_config
    from inspector.line_setup import local_line_config

    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "station")
    write_config(config, tmp_path / "station.yaml")
    with open_audit_trail(config) as trail:
        for user in ("maria", "jonas", "ines"):
            trail.record(user, "login", "hmi", None, {"role": "quality"})
    paths = calibration_paths(config)
    return tmp_path / "station.yaml", paths.audit_database, paths.audit_key, paths.audit_anchor


@pytest.mark.parametrize("damage", ["deleted", "emptied to 0 bytes"])
def test_a_deleted_or_emptied_audit_database_with_an_anchored_trail_verifies_broken(station_trail, damage):
    """It once verified as "no trail" (exit 2): whoever could delete the database hid every entry in it."""
    config, database, _, anchor = station_trail
    for leftover in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)
    if damage == "deleted":
        database.unlink()
    else:
        database.write_bytes(b"")
    run = inspector_cli("audit", "verify", "--config", str(config))
    assert run.returncode == 1, (run.stdout, run.stderr)
    state = "missing" if damage == "deleted" else "empty (0 bytes)"
    assert f"BROKEN at entry 1: the audit database {database} is {state}, but its anchor {anchor} records 3 entries up to id 3" in run.stdout


def test_a_station_that_never_audited_anything_has_no_trail_exit_2(tmp_path):
    from inspector.config import DEFAULT_CONFIG, load_config, write_config
    from inspector.line_setup import local_line_config

    write_config(local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "station"), tmp_path / "station.yaml")
    run = inspector_cli("audit", "verify", "--config", str(tmp_path / "station.yaml"))
    assert run.returncode == 2 and "no audit database" in run.stderr and "no trail to check" in run.stderr


def test_verifying_a_copy_takes_the_stations_key_and_anchor_explicitly_never_the_files_beside_it(station_trail, tmp_path):
    import shutil

    _, database, key, anchor = station_trail
    copies = tmp_path / "copies"
    copies.mkdir()
    faithful = copies / "audit.db"
    shutil.copy(database, faithful)
    run = inspector_cli("audit", "verify", "--database", str(faithful), "--key", str(key), "--anchor", str(anchor))
    assert run.returncode == 0 and "3 entries, chain intact" in run.stdout, (run.stdout, run.stderr)

    # a forged copy: a trail of its own, written with a key and an anchor of its own left beside it
    forged = copies / "forged" / "audit.db"
    forged.parent.mkdir()
    with AuditTrail(forged) as trail:  # audit.key and audit.anchor beside it
        trail.record("mallory", "login", "hmi", None, {"role": "admin"})
    beside = inspector_cli("audit", "verify", "--database", str(forged))
    assert beside.returncode == 2, (beside.stdout, beside.stderr)
    assert "audit verify --database needs --key and --anchor" in beside.stderr
    assert "never against files found beside the copy" in beside.stderr
    half = inspector_cli("audit", "verify", "--database", str(forged), "--key", str(forged.with_name("audit.key")))
    assert half.returncode == 2 and "needs --anchor" in half.stderr
    checked = inspector_cli("audit", "verify", "--database", str(forged), "--key", str(key), "--anchor", str(anchor))
    assert checked.returncode == 1 and "BROKEN at entry 1" in checked.stdout, (checked.stdout, checked.stderr)

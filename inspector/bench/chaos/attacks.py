"""The chaos cases that need no running line: what a key holder or a database writer tries, checked pass or fail.

Each check makes a fresh station folder and does what a plant (and the
attacker) would do, through the real command line where there is one
(``inspector model``, ``inspector hmi``, ``inspector audit``); what the
station then does is its answer. A check returns one row: ``held`` True when
the station refused or caught the attack, and what it said.

- **model-substituted**: a package signed by a trusted key, not the one the
  slot ran, put at the configured path; then an older release at a new path.
- **account-replayed**: an admin's sealed row, copied before ``set-role
  operator``, written back; a failed-login counter reset by a database writer.
- **audit-deleted / audit-emptied**: ``audit.db`` removed, or cut to 0 bytes,
  while its anchor holds entries; and a copy verified without its key and anchor.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from calibration.station import calibration_paths, open_audit_trail
from hmi.roles import LoginFailed
from hmi.users import LOCKOUT_AFTER, UserDirectory
from inspector.bench.chaos.station import PYTHON, REPO, station_config
from inspector.config import write_config
from inspector.config.schema import Config
from inspector.engine.model_package import sha256_of
from inspector.model_trust import last_known_good, station_models
from inspector.records.station import StationDatabase

PINS = {"ada": "3333", "olga": "1111"}


def cli(*args: str, cwd: Path = REPO) -> tuple[int, str]:
    """``inspector ARGS`` as a plant runs it: exit code and output."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([PYTHON, "-m", "inspector", *args], capture_output=True, text=True, env=env, cwd=str(cwd))
    return done.returncode, (done.stdout + done.stderr).strip()


def fresh_station(workdir: Path, change: Callable[[Config], Config] | None = None) -> tuple[Config, Path]:
    config = station_config(workdir, 0, 10.0, change=change)
    config_file = workdir / "station.yaml"
    write_config(config, config_file)
    return config, config_file


def _row(case: str, what: str, held: bool, said: str) -> dict:
    return {"case": case, "what": what, "held": held, "said": " ".join(said.split())[:600]}


# -- 6. substitution and anti-rollback ---------------------------------------------------------------------------

def release(source: Path, folder: Path, version: str, key: Path, **meta_changes) -> Path:
    """A copy of the bundled model with ``version``, signed with ``key`` (``inspector model sign``)."""
    folder.mkdir(parents=True)
    onnx = folder / "model.onnx"
    shutil.copyfile(source, onnx)
    meta = json.loads(source.with_suffix(".json").read_text())
    meta.update(version=version, onnx_sha256=sha256_of(onnx), **meta_changes)
    (folder / "model.json").write_text(json.dumps(meta, indent=2))
    code, out = cli("model", "sign", str(onnx), "--key", str(key), "--signer", "quality@chaos")
    if code:
        raise RuntimeError(f"inspector model sign: {out}")
    return onnx


def _verdict(said: str) -> str:
    """The line of ``inspector model verify --config`` that says whether the station would run the package."""
    return next((line for line in said.splitlines() if "the station would refuse" in line or "may run it" in line), said)


def put_package(package: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".onnx", ".json", ".sig.json"):
        shutil.copyfile(package.with_name(f"model{suffix}"), target.with_name(f"model{suffix}"))


def model_substituted(workdir: Path) -> list[dict]:
    code, out = cli("model", "keygen", "--out", str(workdir / "keys"), "--name", "quality")
    if code:
        raise RuntimeError(f"inspector model keygen: {out}")
    private, public = workdir / "keys" / "quality.private.pem", workdir / "keys" / "quality.public.pem"
    configured = workdir / "line-model" / "model.onnx"

    def trusting(config: Config) -> Config:
        detector = dataclasses.replace(config.detector, model=str(configured),
                                       trusted_keys=[*config.detector.trusted_keys, str(public)])
        return dataclasses.replace(config, detector=detector)

    config, config_file = fresh_station(workdir, trusting)
    bundled = Path(station_config(workdir / "probe", 0, 10.0).detector.model)
    released = release(bundled, workdir / "packages" / "2.0", "2.0", private)
    other = release(bundled, workdir / "packages" / "2.1", "2.1", private, class_thresholds={"scratch": 0.99})
    older = release(bundled, workdir / "packages" / "1.0", "1.0", private)
    put_package(released, configured)
    first = station_models(config)  # the detector's start: the slot runs 2.0, the station's record says so
    if first.fallback:
        raise RuntimeError(f"the released package was refused: {first.refused}")

    put_package(other, configured)  # same key, another release, at the configured path
    code, said = cli("model", "verify", str(configured), "--config", str(config_file))
    start = station_models(config)  # what the detector runs when it starts now
    running = json.loads(Path(start.detector.model).with_suffix(".json").read_text())["version"]
    kept = json.loads(last_known_good(config)[0].with_suffix(".json").read_text())["version"]
    rows = [_row("model-substituted", "another package signed by the trusted key at the configured path",
                 code == 1 and start.fallback and running == "2.0" and kept == "2.0",
                 f"model verify exit {code}: {_verdict(said)}; the detector's start (model_trust.station_models): "
                 f"refused={bool(start.fallback)}, runs {running}, last-known-good {kept}")]

    moved = workdir / "older-model" / "model.onnx"  # a config edit to an older release
    put_package(older, moved)
    edited = dataclasses.replace(config, detector=dataclasses.replace(config.detector, model=str(moved)))
    write_config(edited, config_file)
    code, said = cli("model", "verify", str(moved), "--config", str(config_file))
    start = station_models(edited)
    running = json.loads(Path(start.detector.model).with_suffix(".json").read_text())["version"]
    rows.append(_row("model-older-release", "an older release (1.0 after 2.0) without `inspector model rollback`",
                     code == 1 and start.fallback and running == "2.0",
                     f"model verify exit {code}: {_verdict(said)}; the detector's start: refused={bool(start.fallback)}, "
                     f"runs {running}"))
    return rows


# -- 7. replayed accounts ------------------------------------------------------------------------------------------

def account_replayed(workdir: Path) -> list[dict]:
    config, config_file = fresh_station(workdir)
    for name, role in (("ada", "admin"), ("olga", "operator")):
        code, out = cli("hmi", "add-user", "--config", str(config_file), "--name", name, "--role", role,
                        "--pin", PINS[name])
        if code:
            raise RuntimeError(f"inspector hmi add-user: {out}")
    db = StationDatabase(config.recorder.database)
    try:
        as_admin = db.account_record("ada")  # the attacker's copy, sealed by Inspector while ada was an admin
        code, out = cli("hmi", "set-role", "--config", str(config_file), "--name", "ada", "--role", "operator")
        if code:
            raise RuntimeError(f"inspector hmi set-role: {out}")
        db.write_account("ada", as_admin.role, as_admin.failed_logins, as_admin.locked_until, as_admin.version,
                         as_admin.seal or "")
        with open_audit_trail(config) as audit:
            users = UserDirectory(db, audit)
            try:
                user = users.verify("ada", PINS["ada"])
                replay = _row("account-replayed", "an admin's old sealed row put back after `set-role operator`",
                              user.role != "admin", f"login gave role {user.role}")
            except LoginFailed as err:
                replay = _row("account-replayed", "an admin's old sealed row put back after `set-role operator`",
                              True, f"login refused: {err}")
            for _ in range(LOCKOUT_AFTER - 1):
                try:
                    users.verify("olga", "0000")
                except LoginFailed:
                    pass
            counted = db.account_record("olga")
            db.write_account("olga", counted.role, 0, 0.0, counted.version, counted.seal or "")  # the counter reset
            try:
                users.verify("olga", PINS["olga"])
                reset = _row("failed-logins-reset", f"a database writer resets the failed-login counter after "
                             f"{LOCKOUT_AFTER - 1} wrong PINs", False, "login accepted: the reset was not caught")
            except LoginFailed as err:
                reset = _row("failed-logins-reset", f"a database writer resets the failed-login counter after "
                             f"{LOCKOUT_AFTER - 1} wrong PINs", True, f"login refused: {err}")
    finally:
        db.close()
    return [replay, reset]


# -- 8. the audit trail gone or emptied ------------------------------------------------------------------------------

def audit_removed(workdir: Path) -> list[dict]:
    config, config_file = fresh_station(workdir)
    code, out = cli("hmi", "add-user", "--config", str(config_file), "--name", "ada", "--role", "admin",
                    "--pin", PINS["ada"])  # entries in the trail and its anchor
    if code:
        raise RuntimeError(f"inspector hmi add-user: {out}")
    paths = calibration_paths(config)
    database = paths.audit_database
    intact, said = cli("audit", "verify", "--config", str(config_file))
    if intact != 0:
        raise RuntimeError(f"the fresh audit trail does not verify: {said}")
    kept = workdir / "audit-copy.db"
    shutil.copyfile(database, kept)
    rows = []
    database.unlink()
    code, said = cli("audit", "verify", "--config", str(config_file))
    rows.append(_row("audit-deleted", "audit.db deleted, its anchor holding entries", code == 1 and "BROKEN" in said,
                     f"exit {code}: {said}"))
    database.write_bytes(b"")
    code, said = cli("audit", "verify", "--config", str(config_file))
    rows.append(_row("audit-emptied", "audit.db cut to 0 bytes, its anchor holding entries",
                     code == 1 and "BROKEN" in said, f"exit {code}: {said}"))
    shutil.copyfile(paths.audit_key, kept.with_name(kept.stem + ".key"))  # an attacker's key and anchor beside a copy
    kept.with_name(kept.stem + ".anchor").write_text("")
    code, said = cli("audit", "verify", "--database", str(kept))
    rows.append(_row("audit-copy-without-key", "`audit verify --database COPY` without --key and --anchor",
                     code != 0, f"exit {code}: {said}"))
    return rows


CHECKS: dict[str, Callable[[Path], list[dict]]] = {
    "model-substituted": model_substituted,
    "account-replayed": account_replayed,
    "audit-removed": audit_removed,
}

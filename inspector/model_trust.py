"""Which model packages a station may load: signed by a trusted key, or the last set that was.

Every time the station's configured packages (``detector.model`` and
``detector.additional_models``) verify (trusted signature, unchanged ONNX and
metadata) and load, they are copied as the *last-known-good* set into
``<station.state_dir>/last-known-good/``. When a configured package is
refused (unsigned, signed by a key the station does not trust, changed after
signing, corrupt), the detector says why in an alarm and runs the
last-known-good set instead, checked the same way, so a bad model never
reaches the line and the line keeps deciding. With no last-known-good set,
the refusal stops the detector (the actuator then fails safe every part).

A package signed by a trusted key must also be the one the slot may run
(:mod:`inspector.model_pins`: the registry's or the config's pin, no
substitution at the same path, no step back in version without an audited
rollback); one that is not is refused the same way, with what was expected
and what was found, and never becomes last-known-good.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from calibration.station import open_audit_trail
from inspector.config.schema import Config, DetectorConfig
from inspector.engine.model_package import load_model_package, metadata_path, sha256_of
from inspector.errors import ModelError
from inspector.file_modes import copy_private, private_folder, write_private
from inspector.model_pins import AcceptedModels, Identity, Pin, configured_pins, content_id, slot_names
from inspector.model_signing import SignatureCheck, load_trusted_keys, signature_path, verify_package

log = logging.getLogger(__name__)

LKG_FOLDER = "last-known-good"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StationModels:
    """The detector settings to run with, and how they were established."""

    detector: DetectorConfig
    signatures: list[SignatureCheck]
    refused: str = ""  # why the configured packages were refused ("" when they run)

    @property
    def fallback(self) -> bool:
        return bool(self.refused)


def configured_models(detector: DetectorConfig) -> list[Path]:
    return [Path(detector.model), *(Path(m.model) for m in detector.additional_models)]


def _with_models(detector: DetectorConfig, paths: list[Path]) -> DetectorConfig:
    return dataclasses.replace(
        detector,
        model=str(paths[0]),
        additional_models=[dataclasses.replace(m, model=str(p)) for m, p in zip(detector.additional_models, paths[1:])],
    )


def check_packages(paths: list[Path], trusted: dict) -> list[SignatureCheck]:
    """Verify each package's signature and its sha256; the first problem raises :class:`ModelError`."""
    checks = []
    for path in paths:
        checks.append(verify_package(path, trusted))
        load_model_package(path)  # the metadata's own sha256 of the ONNX file, and its schema
    return checks


def lkg_folder(config: Config) -> Path:
    return Path(config.station.state_dir) / LKG_FOLDER


def save_last_known_good(config: Config, paths: list[Path], packages: list[str] | None = None) -> None:
    """Keep a copy of ``paths`` (each package with its signature) as the last-known-good set.

    ``packages``: the package ids the set was checked as; a copy that differs (a file replaced since) is not kept
    (:class:`ModelError`). One writer at a time (several detector instances share the state folder)."""
    folder = lkg_folder(config)
    wanted = packages or [content_id(p) for p in paths]  # weights and metadata: other thresholds are another package
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(folder.with_name(f".{LKG_FOLDER}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if json.loads((folder / MANIFEST).read_text()).get("packages") == wanted:
                return  # already kept
        except (OSError, ValueError):
            pass
        staging = folder.with_name(f".{LKG_FOLDER}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        copies = []
        for i, path in enumerate(paths):
            slot = staging / str(i)
            private_folder(slot)
            for source in (path, metadata_path(path), signature_path(path)):  # copies owner-only (inspector.file_modes)
                copy_private(source, slot / f"model{source.name[len(path.stem):]}")
            copies.append(f"{i}/model.onnx")
            if content_id(slot / "model.onnx") != wanted[i]:
                shutil.rmtree(staging, ignore_errors=True)
                raise ModelError(f"model {path} changed since it was checked: not kept as last-known-good")
        manifest = {"models": copies, "packages": wanted, "onnx_sha256": [sha256_of(staging / c) for c in copies],
                    "sources": [str(p) for p in paths], "saved_at": time.time()}
        write_private(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        os.close(lock)
    log.info("last-known-good model set saved: %s", ", ".join(str(p) for p in paths))


def last_known_good(config: Config) -> list[Path]:
    folder = lkg_folder(config)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return [folder / rel for rel in manifest["models"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"no last-known-good model set in {folder}") from err


def require_trusted(config: Config) -> list[SignatureCheck]:
    """The configured packages must verify now, no fallback (``inspector verify`` checks what is configured)."""
    detector = config.detector
    if not detector.require_signed_models:
        return []
    if not detector.trusted_keys:
        raise ModelError("detector.require_signed_models is on but detector.trusted_keys lists no public key")
    return check_packages(configured_models(detector), load_trusted_keys(detector.trusted_keys))


def check_set(config: Config, accepted: AcceptedModels, paths: list[Path], pins: dict[str, Pin],
              trusted: dict) -> tuple[list[SignatureCheck], list[Identity]]:
    """A model set the slots may run: signed by a trusted key, intact, and what each slot may run
    (:meth:`AcceptedModels.judge`); the first problem raises :class:`ModelError`."""
    checks = check_packages(paths, trusted)
    return checks, accepted.judge_set(slot_names(config), paths, pins)


def accept_set(config: Config, accepted: AcceptedModels, paths: list[Path], identities: list[Identity]) -> None:
    """The set runs now: it is kept as the last-known-good set and its versions become the floor."""
    save_last_known_good(config, paths, [i.package_id for i in identities])
    accepted.accept(slot_names(config), paths, identities)


def station_models(config: Config, promoted: dict[str, Pin] | None = None,
                   accepted: AcceptedModels | None = None) -> StationModels:
    """The packages the station may run now (see the module's description); :class:`ModelError` if none.

    ``promoted``: the registry's pins of the slots it runs a promoted package in (they replace the config's);
    ``accepted``: the station's record (default: opened with the station's audit trail for this call)."""
    detector = config.detector
    if not detector.require_signed_models:
        log.warning("detector.require_signed_models is off: model packages are loaded without checking who signed them")
        return StationModels(detector, [])
    if not detector.trusted_keys:
        raise ModelError("detector.require_signed_models is on but detector.trusted_keys lists no public key")
    if accepted is None:
        with open_audit_trail(config) as trail:
            return station_models(config, promoted, AcceptedModels.of_station(config, trail))
    trusted = load_trusted_keys(detector.trusted_keys)
    paths = configured_models(detector)
    pins = {**configured_pins(config), **(promoted or {})}
    try:
        checks, identities = check_set(config, accepted, paths, pins, trusted)
    except ModelError as refused:
        log.error("configured model refused: %s", refused)
        try:
            fallback = last_known_good(config)
            if len(fallback) != len(paths):
                raise ModelError(f"the last-known-good set has {len(fallback)} model(s), the station runs {len(paths)}")
            checks, _ = check_set(config, accepted, fallback, {}, trusted)
        except ModelError as no_fallback:
            raise ModelError(f"{refused}; and no usable last-known-good model set: {no_fallback}") from refused
        return StationModels(_with_models(detector, fallback), checks, str(refused))
    accept_set(config, accepted, paths, identities)
    return StationModels(detector, checks)

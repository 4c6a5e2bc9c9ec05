"""The station's model registry: every signed package it was given, content-addressed, and what each slot runs.

Layout (``models.folder``, default ``<station.state_dir>/model-registry``, owner-only)::

    packages/<package id>/model.onnx, model.json, model.sig.json   the package as installed (read-only)
    packages/<package id>/entry.json                                family, version, signer, key id, who installed it and when
    production.json                                                 the sealed production pointer (:mod:`inspector.modelops.pointer`)

A package's id is the sha256 of its ONNX file's and its metadata's sha256
(:func:`package_id`): the same weights with another threshold are another
package. Only packages whose signature verifies against the station's trusted
keys (``detector.trusted_keys``) are installed; a package is checked again
(signature, hashes, content address) whenever it is promoted or loaded.

A station runs one production model per *slot*: ``primary`` (``detector.model``)
and ``additional-1``.. (``detector.additional_models``, in order). A slot
nothing was promoted to runs the configured model. Every promotion keeps the
previous production package in the slot's history: ``rollback`` returns to it
(the last-known-good), or ``rollback --to`` to an older installed package.
A promotion never steps back in version (:mod:`inspector.model_pins`): going
back is a rollback, recorded so that the detector runs it. Installed packages
are never deleted. Every install, promotion and rollback goes into the audit
trail.

The functions here are what the CLI (``inspector model list|install|show|promote|rollback``)
and an HMI screen call.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

from inspector.config.schema import Config
from inspector.engine.model_package import load_model_package, metadata_path, sha256_of
from inspector.errors import InspectorError, ModelError
from inspector.model_pins import (
    PRIMARY,
    AcceptedModels,
    ModelRefused,
    Pin,
    content_id,
    identify,
    package_id,
    slot_names,
)
from inspector.model_signing import (
    SignatureCheck,
    load_trusted_keys,
    signature_path,
    verify_package,
)
from inspector.modelops.gate_records import GATES, GateReport, read_reports
from inspector.modelops.golden import GoldenSet
from inspector.modelops.pointer import (
    SEAL_PURPOSE,
    Production,
    SlotState,
    read_pointer,
    write_pointer,
)

log = logging.getLogger(__name__)

FOLDER = "model-registry"
PACKAGES = "packages"
POINTER = "production.json"
ENTRY = "entry.json"
CONFIGURED = ""  # in the pointer: the slot runs the model named in the station config


def registry_folder(config: Config) -> Path:
    return Path(config.models.folder) if config.models.folder else Path(config.station.state_dir) / FOLDER


def configured_path(config: Config, slot: str) -> Path:
    names = slot_names(config)
    if slot not in names:
        raise ModelError(f"no model slot {slot!r} on this station (slots: {', '.join(names)})")
    index = names.index(slot)
    return Path(config.detector.model if index == 0 else config.detector.additional_models[index - 1].model)


@dataclass(frozen=True)
class RegisteredPackage:
    """One installed package and its record."""

    package_id: str
    label: str  # name@version, what verdicts carry
    name: str
    version: str
    family: str
    onnx_sha256: str
    metadata_sha256: str
    signer: str
    key_id: str
    signed_at: float
    installed_by: str
    installed_at: float
    source: str  # where it was installed from

    @property
    def short_id(self) -> str:
        return self.package_id[:12]


class ModelRegistry:
    """One station's registry (see the module's description). ``trail``: the audit trail to record into
    (default: the station's, opened when first needed)."""

    def __init__(self, config: Config, trail=None) -> None:
        self.config = config
        self.folder = registry_folder(config)
        self._trail = trail
        self._own_trail = trail is None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def trail(self):
        if self._trail is None:
            from calibration.station import open_audit_trail

            self._trail = open_audit_trail(self.config)
        return self._trail

    def close(self) -> None:
        if self._own_trail and self._trail is not None:
            self._trail.close()
            self._trail = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _seal(self, data: bytes) -> str:
        return self.trail.seal(SEAL_PURPOSE, data)

    @property
    def accepted(self) -> AcceptedModels:
        """The station's record of accepted packages (:mod:`inspector.model_pins`): the version floor, rollbacks."""
        return AcceptedModels.of_station(self.config, self.trail)

    @property
    def pointer_path(self) -> Path:
        return self.folder / POINTER

    def package_folder(self, pid: str) -> Path:
        return self.folder / PACKAGES / pid

    def onnx_path(self, pid: str) -> Path:
        return self.package_folder(pid) / "model.onnx"

    def _ensure_folder(self) -> None:
        (self.folder / PACKAGES).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (CLI, HMI, a detector rolling back)."""
        self._ensure_folder()
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _trusted(self) -> dict:
        if not self.config.detector.trusted_keys:
            raise ModelError("detector.trusted_keys lists no public key: the registry installs signed packages only")
        return load_trusted_keys(self.config.detector.trusted_keys)

    # -- packages ---------------------------------------------------------------------------
    def install(self, onnx_path: str | Path, user: str) -> tuple[RegisteredPackage, bool]:
        """Verify and keep a package; returns it and whether it is new. Unsigned or badly signed: :class:`ModelError`."""
        onnx_path = Path(onnx_path)
        try:
            check = verify_package(onnx_path, self._trusted())
            meta = load_model_package(onnx_path).metadata
        except ModelError as err:
            self.trail.record(user, "model_install_refused", str(onnx_path), None, {"reason": str(err)})
            raise ModelError(f"not installed: {err}") from err
        pid = package_id(sha256_of(onnx_path), sha256_of(metadata_path(onnx_path)))
        with self._locked():
            if (self.package_folder(pid) / ENTRY).is_file():
                return self.package(pid), False
            staging = self.folder / PACKAGES / f".{pid}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for source in (onnx_path, metadata_path(onnx_path), signature_path(onnx_path)):
                target = staging / f"model{source.name[len(onnx_path.stem):]}"
                shutil.copyfile(source, target)
                os.chmod(target, 0o400)
            entry = RegisteredPackage(
                pid, meta.label, meta.name, meta.version, meta.family, sha256_of(staging / "model.onnx"),
                sha256_of(staging / "model.json"), check.signer, check.key_id, check.signed_at, user, time.time(),
                str(onnx_path.resolve()),
            )
            if package_id(entry.onnx_sha256, entry.metadata_sha256) != pid:
                shutil.rmtree(staging, ignore_errors=True)
                raise ModelError(f"{onnx_path} changed while it was installed; install it again")
            (staging / ENTRY).write_text(json.dumps(asdict(entry), indent=2) + "\n")
            staging.rename(self.package_folder(pid))
            self.trail.record(user, "model_install", pid, None, asdict(entry))
        log.info("model package %s installed as %s by %s", entry.label, entry.short_id, user)
        return entry, True

    def packages(self) -> list[RegisteredPackage]:
        """Every installed package, oldest install first."""
        root = self.folder / PACKAGES
        if not root.is_dir():
            return []
        found = [self.package(p.name) for p in root.iterdir() if (p / ENTRY).is_file()]
        return sorted(found, key=lambda p: p.installed_at)

    def package(self, pid: str) -> RegisteredPackage:
        path = self.package_folder(pid) / ENTRY
        try:
            return RegisteredPackage(**json.loads(path.read_text()))
        except OSError as err:
            raise ModelError(f"no package {pid[:12]} in the registry {self.folder}") from err
        except (ValueError, TypeError) as err:
            raise ModelError(f"the registry record {path} is malformed: {err}") from err

    def find(self, ref: str) -> RegisteredPackage:
        """A package by its id (or a unique prefix of at least 6 characters) or its label (name@version)."""
        matches = [p for p in self.packages() if p.label == ref or (len(ref) >= 6 and p.package_id.startswith(ref))]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ModelError(f"no installed package matches {ref!r} (see 'inspector model list'; install it first)")
        raise ModelError(f"{ref!r} matches {len(matches)} packages ({', '.join(p.short_id for p in matches)}): give more of the id")

    def check(self, pid: str) -> SignatureCheck:
        """The installed package verifies now: signature by a trusted key, hashes, and its content address."""
        onnx = self.onnx_path(pid)
        check = verify_package(onnx, self._trusted())
        load_model_package(onnx)
        actual = package_id(sha256_of(onnx), sha256_of(metadata_path(onnx)))
        if actual != pid:
            raise ModelError(f"registered package {pid[:12]} no longer matches its content address ({actual[:12]}): it was changed")
        return check

    # -- production ---------------------------------------------------------------------------
    def production(self) -> Production:
        """The sealed production pointer (empty when nothing was promoted); :class:`ModelError` if tampered with."""
        if not self.pointer_path.exists():
            return Production()
        return read_pointer(self.pointer_path, self._seal)

    def production_paths(self, production: Production | None = None) -> list[Path]:
        """The model file each slot runs, in the detector's order (the configured one where nothing was promoted)."""
        production = self.production() if production is None else production
        return [self.onnx_path(production.slot(s).package) if production.slot(s).package
                else configured_path(self.config, s) for s in slot_names(self.config)]

    def production_pins(self, production: Production | None = None) -> dict[str, Pin]:
        """The pin of each slot that runs a promoted package: the pointer names it by content address."""
        production = self.production() if production is None else production
        states = {slot: production.slot(slot) for slot in slot_names(self.config)}
        return {slot: Pin(state.package, f"promoted in the model registry by {state.promoted_by or 'someone'}")
                for slot, state in states.items() if state.package}

    def golden(self) -> GoldenSet:
        """The station's golden set (:mod:`inspector.modelops.golden`), kept in the registry."""
        return GoldenSet(self.folder / "golden", self.trail)

    def promote(self, ref: str, user: str, slot: str = PRIMARY, reason: str = "", *, force: bool = False,
                approval: str = "") -> RegisteredPackage:
        """Make an installed, verifying package the slot's production model; the one it replaces becomes last-known-good.

        With ``models.require_gate`` the package needs a passing gate against the slot's production model on the
        latest golden set; ``force`` (with a ``reason``) promotes without one, and the audit trail says so.
        ``approval``: a recipe selection between already-approved models (:mod:`inspector.modelops.selection`
        decides and says why); it needs no new gate and the audit entry records the approval."""
        configured_path(self.config, slot)  # the slot exists
        package = self.find(ref)
        try:
            self.check(package.package_id)
        except ModelError as err:
            raise ModelError(f"{package.label} ({package.short_id}) is not promoted: {err}") from err
        try:  # never a step back in version, nor another package under a name and version the station ran
            self.accepted.judge(slot, self.onnx_path(package.package_id), identify(self.onnx_path(package.package_id)),
                                Pin(package.package_id, "the promotion"))
        except ModelRefused as err:
            raise ModelError(f"{package.label} ({package.short_id}) is not promoted: {err.expected}; it is "
                             f"{err.found}") from err
        gate_report, forced = "", False
        if self.config.models.require_gate and not approval:
            passed, why = passing_gate(self, self.golden(), package.package_id, slot)
            if passed is None and not force:
                raise ModelError(f"{package.label} ({package.short_id}) is not promoted: {why}; "
                                 "or promote it with --force and a --reason (audited)")
            if passed is None and not reason.strip():
                raise ModelError(f"a forced promotion of {package.label} needs a reason (--reason)")
            gate_report, forced = (passed.golden_version if passed else ""), passed is None
        with self._locked():
            production = self.production()
            current = production.slot(slot)
            if current.package == package.package_id:
                raise ModelError(f"{package.label} ({package.short_id}) is already the production model of slot {slot}")
            history = (*current.history, current.package) if (current.package or current.promoted_at) else (CONFIGURED,)
            state = SlotState(package.package_id, history, time.time(), user, reason)
            write_pointer(self.pointer_path, Production(production.serial + 1, {**production.slots, slot: state}), self._seal)
            self.trail.record(user, "model_promote", slot, {"package": current.package, "label": self._label(current.package)},
                              {"package": package.package_id, "label": package.label, "reason": reason,
                               "gate_golden_version": gate_report, "forced": forced,
                               **({"selection_approval": approval} if approval else {})})
        log.info("slot %s: %s promoted by %s%s", slot, package.label, user, " without a passing gate" if forced else "")
        return package

    def rollback(self, user: str, slot: str = PRIMARY, reason: str = "", *, only_if: str | None = None,
                 automatic: bool = False, signature: str = "", to: str = "") -> str:
        """Return the slot to its last-known-good package (or the configured model); returns what it runs now (label).

        ``to``: an installed package (name@version or id) to go back to instead, one the history does not hold. The
        target may be older than any release the station ran: the rollback is recorded in the station's record of
        accepted models (:mod:`inspector.model_pins`), which lets the detector run it.

        ``signature``: how the user signed the action (an HMI's re-entered PIN), recorded in the audit entry.

        ``only_if``: roll back only while the slot still runs this package (a detector rolling back a model that
        failed its checks must not undo a promotion made since)."""
        configured_path(self.config, slot)
        target = ""
        if to:
            target = self.find(to).package_id
            try:
                self.check(target)
            except ModelError as err:
                raise ModelError(f"slot {slot} is not rolled back to {to}: {err}") from err
        with self._locked():
            production = self.production()
            current = production.slot(slot)
            if only_if is not None and current.package != only_if:
                return self._label(current.package)
            if to:
                if target == current.package:
                    raise ModelError(f"slot {slot} runs {self._label(target)} already")
                back, history = target, (current.history[:current.history.index(target)] if target in current.history
                                         else current.history)
            elif not current.history:
                raise ModelError(f"slot {slot} runs {self._label(current.package)} and has no earlier production model to roll back to")
            else:
                back, history = current.history[-1], current.history[:-1]
            self._allow_rollback(slot, back)
            state = SlotState(back, history, time.time(), user, reason)
            write_pointer(self.pointer_path, Production(production.serial + 1, {**production.slots, slot: state}), self._seal)
            self.trail.record(user, "model_rollback", slot, {"package": current.package, "label": self._label(current.package)},
                              {"package": back, "label": self._label(back), "reason": reason, "automatic": automatic,
                               **({"signature": signature} if signature else {})})
        log.warning("slot %s rolled back from %s to %s by %s: %s", slot, self._label(current.package), self._label(back), user, reason)
        return self._label(back)

    def _allow_rollback(self, slot: str, pid: str) -> None:
        """The slot may run ``pid`` (the configured model when '') though it is older than what the station ran."""
        path = self.onnx_path(pid) if pid else configured_path(self.config, slot)
        try:
            identity = identify(path)
        except ModelError as err:  # a configured model that does not load: the detector refuses it anyway, and says why
            log.warning("slot %s: the rollback's target %s cannot be read (%s)", slot, path, err)
            return
        self.accepted.allow_rollback(slot, identity)

    def _label(self, pid: str) -> str:
        if not pid:
            return "the configured model"
        try:
            return self.package(pid).label
        except ModelError:
            return pid[:12]

    def describe_slots(self) -> list[dict]:
        """Per slot: what runs, since when, by whom, and the last-known-good to roll back to (for the CLI and an HMI)."""
        production = self.production()
        rows = []
        for slot in slot_names(self.config):
            state = production.slot(slot)
            rows.append({
                "slot": slot, "package": state.package, "label": self._label(state.package),
                "last_known_good": self._label(state.history[-1]) if state.history else "",
                "promoted_at": state.promoted_at, "promoted_by": state.promoted_by, "reason": state.reason,
            })
        return rows


def gate_reports(registry: ModelRegistry, candidate_id: str) -> list[GateReport]:
    """Every stored gate report of a candidate (:mod:`inspector.modelops.gate_records`), oldest first."""
    return read_reports(registry.folder / GATES, candidate_id)


def passing_gate(registry: ModelRegistry, golden: GoldenSet, candidate_id: str, slot: str) -> tuple[GateReport | None, str]:
    """The candidate's passing gate against the slot's current production on the latest golden version, or why there is none."""
    try:
        latest = golden.latest().version
    except InspectorError as err:
        return None, str(err)
    production = content_id(registry.production_paths()[slot_names(registry.config).index(slot)])
    reports = [r for r in gate_reports(registry, candidate_id) if r.slot == slot]
    if not reports:
        return None, "it was never gated ('inspector model gate')"
    current = [r for r in reports if r.production == production and r.golden_version == latest]
    if not current:
        return None, f"its gate ran against another production model or golden-set version than now ({latest}): gate it again"
    if not current[-1].passed:
        return None, f"it failed its gate: {'; '.join(current[-1].reasons)}"
    return current[-1], ""

"""Recipe selection: an operational switch between already-approved models, through the registry's promotion path.

A plant switching the line to another product (OPC UA ``SelectModel``) does not
approve a new model: it picks one that was approved before. So a package may
be *selected* only if

* it has a passing gate report for the slot (against whatever production model
  and golden-set version it was gated on), or
* it is, or was, the slot's production model (the pointer's current package or
  its history).

Anything else is refused with the reason; it has to be gated and promoted
('inspector model gate|promote') first. An approved package is promoted like
any other (sealed pointer, audit entry ``model_promote`` naming the user and
the reason, the approval recorded as ``selection_approval``), so the detector
hot-swaps it between parts and rolls it back if it fails its checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.errors import ModelError
from inspector.modelops.registry import PRIMARY, ModelRegistry, RegisteredPackage, content_id, gate_reports


class SelectionRefused(ModelError):
    """The package is not one the station approved for selection (the message says why)."""


@dataclass(frozen=True)
class Selection:
    package: RegisteredPackage
    already_active: bool  # it was the slot's production model already: nothing changed


def resolve(registry: ModelRegistry, ref: str) -> RegisteredPackage:
    """A recipe's model: a registry reference (name@version, package id or a 6+ character prefix), or a model file
    (``.onnx``) found in the registry by its content."""
    if ref.endswith(".onnx"):
        path = Path(ref)
        try:
            pid = content_id(path)
        except OSError as err:
            raise ModelError(f"the model file {ref} cannot be read: {err.strerror or err}") from err
        try:
            return registry.package(pid)
        except ModelError:
            raise ModelError(f"the model file {ref} is not installed in the model registry "
                             f"('inspector model install {ref}')") from None
    return registry.find(ref)


def approval(registry: ModelRegistry, package: RegisteredPackage, slot: str = PRIMARY) -> str:
    """Why the package may be selected (a sentence for the audit trail); :class:`SelectionRefused` if it may not."""
    state = registry.production().slot(slot)
    if package.package_id == state.package or package.package_id in state.history:
        return f"it was a production model of slot {slot}"
    passed = [r for r in gate_reports(registry, package.package_id) if r.slot == slot and r.passed]
    if passed:
        return f"it passed its gate on golden set {passed[-1].golden_version} against {passed[-1].production_label}"
    raise SelectionRefused(f"{package.label} ({package.short_id}) never passed a gate and was never in production on "
                           f"slot {slot}: gate and promote it first ('inspector model gate|promote')")


def select(registry: ModelRegistry, ref: str, user: str, reason: str, slot: str = PRIMARY) -> Selection:
    """Make an approved package the slot's production model (see the module's description)."""
    package = resolve(registry, ref)
    why = approval(registry, package, slot)
    if registry.production().slot(slot).package == package.package_id:
        return Selection(package, True)
    registry.promote(package.package_id, user, slot, reason, approval=why)
    return Selection(package, False)

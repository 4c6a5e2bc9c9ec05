"""The model screen's state and actions (quality engineer, admin), free of Qt.

What each model slot runs and its last-known-good; every installed package
with its latest gate result (the stored report opens as text) and its latest
shadow run (parts compared, disagreements, frames skipped) and the
disagreements of that run, both decisions and the image; and the one-tap
rollback, signed by re-entering the PIN with a reason
(:func:`inspector.modelops.signed_actions.rollback_signed`), which shows what
runs now and the audit entry it wrote.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from hmi.observable import Observable
from hmi.roles import HmiError, Permission
from hmi.users import Session, UserDirectory
from inspector.audit import AuditEntry, AuditTrail
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.modelops.gate_records import GATES, GateReport, markdown
from inspector.modelops.registry import ModelRegistry, RegisteredPackage, gate_reports
from inspector.modelops.shadow import SHADOW, disagreements, shadow_summary
from inspector.modelops.signed_actions import rollback_signed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotView:
    slot: str
    label: str  # what runs ("the configured model" when nothing was promoted)
    package: RegisteredPackage | None
    last_known_good: str
    promoted_at: float
    promoted_by: str
    reason: str


@dataclass(frozen=True)
class ShadowView:
    run: str
    folder: Path
    finished: bool
    compared: int
    agreed: int
    candidate_passes_production_rejects: int
    candidate_rejects_production_passes: int
    skipped: int

    @property
    def disagreements(self) -> int:
        return self.candidate_passes_production_rejects + self.candidate_rejects_production_passes


@dataclass(frozen=True)
class PackageView:
    package: RegisteredPackage
    role: str  # "production (primary)", "last-known-good (primary)", "candidate"
    gate: GateReport | None
    shadow: ShadowView | None

    @property
    def gate_text(self) -> str:
        if self.gate is None:
            return "never gated"
        return f"gate {'PASSED' if self.gate.passed else 'FAILED'} on {self.gate.golden_version}"

    @property
    def shadow_text(self) -> str:
        s = self.shadow
        if s is None:
            return "never in shadow"
        state = "shadow report" if s.finished else "shadow running"
        return f"{state}: {s.compared} parts, {s.disagreements} disagreements, {s.skipped} skipped"


@dataclass(frozen=True)
class Disagreement:
    camera: str
    part_id: int
    t: float
    production_rejects: bool
    candidate_rejects: bool
    production_reason: str
    candidate_reason: str
    image_path: str | None

    @staticmethod
    def verdict(rejects: bool, reason: str) -> str:
        return f"REJECT ({reason})" if rejects and reason else "REJECT" if rejects else "PASS"


@dataclass
class RollbackResult:
    slot: str
    running: str  # label of what the slot runs now
    entry: AuditEntry | None

    def text(self) -> str:
        if self.entry is None:
            return f"slot {self.slot} now runs {self.running}"
        after = self.entry.after or {}
        return (f"slot {self.slot} now runs {self.running}. Audit #{self.entry.id}: {self.entry.action} by {self.entry.user}, "
                f"{after.get('signature', '')}, reason: {after.get('reason', '')}")


def _shadow_runs(registry: ModelRegistry) -> dict[str, ShadowView]:
    """Per package id: its latest shadow run (finished or running)."""
    root = registry.folder / SHADOW
    latest: dict[str, tuple[float, ShadowView]] = {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not (folder / "shadow.db").is_file():
            continue
        report_path = folder / "report.json"
        try:
            if report_path.is_file():
                report = json.loads(report_path.read_text())
                pid, when, finished = report["candidate"], float(report.get("finished_at", 0)), True
                counts = report
            else:
                pid = next((p.package_id for p in registry.packages() if folder.name.endswith(p.short_id)), "")
                when, finished = (folder / "shadow.db").stat().st_mtime, False
                counts = shadow_summary(folder)
        except (OSError, ValueError, KeyError, InspectorError) as err:
            log.warning("shadow run %s unreadable: %s", folder, err)
            continue
        view = ShadowView(folder.name, folder, finished, int(counts["compared"]), int(counts["agreed"]),
                          int(counts["candidate_passes_production_rejects"]), int(counts["candidate_rejects_production_passes"]),
                          int(counts["skipped"]))
        if pid and (pid not in latest or when >= latest[pid][0]):
            latest[pid] = (when, view)
    return {pid: view for pid, (_, view) in latest.items()}


class ModelViewModel(Observable):
    def __init__(self, config: Config, session: Session, users: UserDirectory, audit: AuditTrail) -> None:
        super().__init__()
        self.config = config
        self.session = session
        self.users = users
        self.audit = audit
        self.slots: list[SlotView] = []
        self.packages: list[PackageView] = []
        self.current: PackageView | None = None
        self.disagreements: list[Disagreement] = []
        self.problem = ""  # why the registry could not be read, shown instead of the lists
        self.last_rollback: RollbackResult | None = None

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.config, trail=self.audit)

    # -- reading ------------------------------------------------------------------------
    def load(self) -> None:
        self.session.require(Permission.VIEW_QUALITY)
        registry = self.registry()
        try:
            rows = registry.describe_slots()
            production = registry.production()
            packages = registry.packages()
            runs = _shadow_runs(registry)
            roles: dict[str, list[str]] = {}
            for slot, state in production.slots.items():
                if state.package:
                    roles.setdefault(state.package, []).append(f"production ({slot})")
                if state.history and state.history[-1]:
                    roles.setdefault(state.history[-1], []).append(f"last-known-good ({slot})")
            self.packages = [
                PackageView(p, ", ".join(roles.get(p.package_id, ["candidate"])),
                            (gate_reports(registry, p.package_id) or [None])[-1], runs.get(p.package_id))
                for p in reversed(packages)  # newest install first
            ]
            by_id = {p.package_id: p for p in packages}
            self.slots = [SlotView(r["slot"], r["label"], by_id.get(r["package"]), r["last_known_good"], r["promoted_at"],
                                   r["promoted_by"], r["reason"]) for r in rows]
            self.problem = ""
        except InspectorError as err:
            self.slots, self.packages, self.problem = [], [], f"the model registry cannot be read: {err}"
        if self.current is not None:
            self.current = next((p for p in self.packages if p.package.package_id == self.current.package.package_id), None)
        self._load_disagreements()
        self._notify()

    def choose(self, package_id: str) -> None:
        """Make a package the one whose gate report and shadow disagreements are shown."""
        self.session.require(Permission.VIEW_QUALITY)
        found = next((p for p in self.packages if p.package.package_id == package_id), None)
        if found is None:
            raise HmiError(f"package {package_id[:12]} is not in the registry")
        self.current = found
        self._load_disagreements()
        self._notify()

    def _load_disagreements(self) -> None:
        shadow = self.current.shadow if self.current else None
        if shadow is None:
            self.disagreements = []
            return
        try:
            rows = disagreements(shadow.folder)
        except Exception as err:
            raise HmiError(f"the disagreements of shadow run {shadow.run} cannot be read: {err}") from err
        self.disagreements = [
            Disagreement(r["camera"], r["part_id"], r["t"], bool(r["production_rejects"]), bool(r["candidate_rejects"]),
                         r["production_reason"], r["candidate_reason"], r["image_path"]) for r in rows]

    def gate_report_text(self) -> str:
        """The chosen package's latest stored gate report (markdown), and where it is."""
        self.session.require(Permission.VIEW_QUALITY)
        if self.current is None:
            raise HmiError("choose a package first")
        gate = self.current.gate
        if gate is None:
            return f"{self.current.package.label} was never gated ('inspector model gate')."
        folder = self.registry().folder / GATES
        stored = sorted(folder.glob(f"{gate.candidate[:12]}-{gate.slot}-*.md"))
        text = stored[-1].read_text() if stored else markdown(gate)
        return text + (f"\nStored in {stored[-1]}\n" if stored else "")

    # -- rollback -----------------------------------------------------------------------
    def rollback(self, pin: str, reason: str, slot: str = "primary") -> RollbackResult:
        """Roll ``slot`` back to its last-known-good, signed by the logged-in user re-entering their PIN."""
        user = self.session.require(Permission.ROLLBACK_MODEL)
        registry = self.registry()
        running = rollback_signed(registry, self.users, user.name, pin, reason, slot)
        self.last_rollback = RollbackResult(slot, running, self.audit.latest("model_rollback", slot))
        self.load()
        return self.last_rollback

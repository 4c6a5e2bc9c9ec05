"""Shadow mode: a candidate judges live frames beside production without affecting or delaying a decision.

``inspector model shadow CANDIDATE --parts N`` writes the sealed shadow order
(``<registry>/shadow.json``, owner-only, sealed with the audit key like the
production pointer). The detector sees it between parts and starts a shadow
worker: a thread at the lowest CPU priority (nice 19, its ONNX Runtime
threads too, one intra-op thread) with the candidate in the slot's decision
settings. After a part's verdict has been sent, the detector offers the
frame to the worker; if the worker is still busy with an earlier part the
frame is skipped and counted, so production never waits for the shadow.

Every compared part is recorded in ``<registry>/shadow/<run>/shadow.db``:
both decisions and scores; for a disagreement also both reasons and the
image. After N compared parts the worker writes ``report.json`` and
``report.md`` beside it (agreement, disagreements both ways, reject rates,
skipped frames), raises an info alarm ``shadow_report`` and stops; the run
is audited. The functions at the end are what a review screen lists.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.config.schema import Config
from inspector.engine.decision_rules import Judgement
from inspector.errors import InspectorError, ModelError
from inspector.messages import FrameHeader
from inspector.modelops.pointer import canonical
from inspector.modelops.registry import ModelRegistry, slot_names
from inspector.records.shadow import SHADOW_DB, Comparison, ShadowComparisons, decisions
from inspector.records.shadow import disagreements as compared_differently

log = logging.getLogger(__name__)

ORDER = "shadow.json"
ORDER_FORMAT = "inspector-model-shadow/1"
SEAL_PURPOSE = "model-shadow"
SHADOW = "shadow"

Alarm = Callable[[str, str, str], None]

@dataclass(frozen=True)
class ShadowOrder:
    run: str  # the run's folder name
    candidate: str  # package id
    slot: str
    parts: int
    started_by: str
    started_at: float


# -- the order (CLI / HMI side) ------------------------------------------------------------------
def _order_path(registry: ModelRegistry) -> Path:
    return registry.folder / ORDER


def read_order(registry: ModelRegistry) -> ShadowOrder | None:
    """The sealed shadow order, None when no shadow run is ordered; :class:`ModelError` if it lost its seal."""
    path = _order_path(registry)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ModelError(f"the shadow order {path} is unreadable: {err}") from err
    seal = document.pop("seal", "")
    if document.get("format") != ORDER_FORMAT or seal != registry.trail.seal(SEAL_PURPOSE, canonical(document)):
        raise ModelError(f"the shadow order {path} does not carry the station's seal: it was changed by hand")
    try:
        return ShadowOrder(**document["order"])
    except (KeyError, TypeError) as err:
        raise ModelError(f"the shadow order {path} is malformed: {err}") from err


def start_shadow(registry: ModelRegistry, ref: str, user: str, parts: int, slot: str = "primary") -> ShadowOrder:
    """Order a shadow run of an installed candidate over the next ``parts`` parts (replaces a running one)."""
    if slot not in slot_names(registry.config):
        raise ModelError(f"no model slot {slot!r} on this station (slots: {', '.join(slot_names(registry.config))})")
    if parts < 1:
        raise ModelError(f"a shadow run needs at least one part, got {parts}")
    package = registry.find(ref)
    registry.check(package.package_id)
    now = time.time()
    order = ShadowOrder(f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{package.short_id}", package.package_id,
                        slot, parts, user, now)
    _write_order(registry, order)
    registry.trail.record(user, "model_shadow_start", package.package_id, None, {**asdict(order), "label": package.label})
    return order


def stop_shadow(registry: ModelRegistry, user: str) -> ShadowOrder | None:
    order = read_order(registry)
    if order is not None:
        _order_path(registry).unlink()
        registry.trail.record(user, "model_shadow_stop", order.candidate, asdict(order), None)
    return order


def _write_order(registry: ModelRegistry, order: ShadowOrder) -> None:
    body = {"format": ORDER_FORMAT, "order": asdict(order)}
    document = {**body, "seal": registry.trail.seal(SEAL_PURPOSE, canonical(body))}
    registry.folder.mkdir(parents=True, exist_ok=True)
    path = _order_path(registry)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(document, indent=2) + "\n")
    os.replace(temp, path)


def run_folder(registry: ModelRegistry, run: str) -> Path:
    return registry.folder / SHADOW / run


# -- the record -----------------------------------------------------------------------------------
class ShadowRecord:
    """The record of one shadow run (written by the detector's shadow worker only): its comparisons
    (:mod:`inspector.records.shadow`) and the frames of its disagreements."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.comparisons = ShadowComparisons(folder / SHADOW_DB)

    def add(self, header: FrameHeader, frame: np.ndarray, production: Judgement, candidate: Judgement,
            production_reason: str, candidate_reason: str) -> None:
        image = None
        if production.rejected != candidate.rejected:
            path = self.folder / "images" / f"{header.camera}-{header.part_id:010d}.png"
            path.parent.mkdir(exist_ok=True)
            cv2.imwrite(str(path), frame)
            image = str(path)
        self.comparisons.add(Comparison(
            header.camera, header.part_id, time.time(), int(production.rejected), int(candidate.rejected),
            _finite(production.part_score), _finite(candidate.part_score), production_reason, candidate_reason, image,
        ))

    def count_skipped(self, n: int) -> None:
        self.comparisons.count_skipped(n)

    def compared(self) -> int:
        return self.comparisons.compared()

    def close(self) -> None:
        self.comparisons.close()


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _reason(judgement: Judgement) -> str:
    classes = sorted({d.cls for d in judgement.detections if d.causes_reject})
    return f"{judgement.model}: {', '.join(classes)}" if judgement.rejected else ""


# -- reading a run (CLI, review screen) -----------------------------------------------------------
def shadow_summary(folder: Path) -> dict:
    """Counts of a shadow run: compared, agreed, disagreements both ways, reject rates, skipped frames."""
    rows, skipped = decisions(folder / SHADOW_DB)
    compared = len(rows)
    only_production = sum(1 for p, c in rows if p and not c)
    only_candidate = sum(1 for p, c in rows if c and not p)
    return {
        "compared": compared,
        "agreed": compared - only_production - only_candidate,
        "candidate_passes_production_rejects": only_production,
        "candidate_rejects_production_passes": only_candidate,
        "production_reject_rate": (sum(p for p, _ in rows) / compared) if compared else None,
        "candidate_reject_rate": (sum(c for _, c in rows) / compared) if compared else None,
        "skipped": skipped,
    }


def disagreements(folder: Path) -> list[dict]:
    """Every part the candidate decided otherwise than production: both decisions, reasons, scores and the image."""
    return compared_differently(folder / SHADOW_DB)


def _report_markdown(order: ShadowOrder, label: str, summary: dict) -> str:
    rate = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"
    return "\n".join([
        f"# Shadow run {order.run}: {label} beside production ({order.slot})",
        "",
        (f"{summary['compared']} parts compared, {summary['agreed']} agreed; {summary['skipped']} frames skipped "
         "while the shadow was busy (production is never delayed for it)."),
        "",
        "| | parts |",
        "|---|---|",
        f"| candidate passes what production rejects | {summary['candidate_passes_production_rejects']} |",
        f"| candidate rejects what production passes | {summary['candidate_rejects_production_passes']} |",
        f"| reject rate: production | {rate(summary['production_reject_rate'])} |",
        f"| reject rate: candidate | {rate(summary['candidate_reject_rate'])} |",
        "",
        "The disagreements, with both decisions and the image, are in shadow.db (table parts, image_path).",
        "",
    ])


# -- the detector's side ----------------------------------------------------------------------------
class ShadowRunner:
    """In the detector: follows the shadow order and runs the candidate on spare capacity (see the module's description)."""

    def __init__(self, config: Config, alarm: Alarm) -> None:
        self.config = config
        self.alarm = alarm
        self.registry = ModelRegistry(config)
        self.order: ShadowOrder | None = None
        self.offered = self.skipped = 0
        self.skipped_total = 0  # frames skipped since the detector started (``skipped``: not yet recorded)
        self._next_check = 0.0
        self._stamp: tuple[int, int] | None = None
        self._mailbox: tuple | None = None
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = False
        self._order_problem = ""
        self._alarms: list[tuple[str, str, str]] = []  # raised by the worker, sent by the detector's own thread

    @property
    def active(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _raise(self, code: str, severity: str, text: str) -> None:
        with self._wake:
            self._alarms.append((code, severity, text))

    def poll(self, now: float) -> None:
        """Between parts: send the worker's alarms (sockets belong to this thread); start or stop the worker when the order changed."""
        if self._alarms:
            with self._wake:
                pending, self._alarms = self._alarms, []
            for alarm in pending:
                self.alarm(*alarm)
        if now < self._next_check:
            return
        self._next_check = now + self.config.models.check_interval_s
        path = _order_path(self.registry)
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            order = read_order(self.registry) if stamp is not None else None
        except InspectorError as err:
            if str(err) != self._order_problem:
                self._order_problem = str(err)
                self.alarm("model_shadow", "warning", f"{err}; no shadow run")
            order = None
        if order == self.order and self.active:
            return
        self._stop_worker()
        self.order = order
        if order is not None and not (run_folder(self.registry, order.run) / "report.json").exists():
            self._start_worker(order)

    def offer(self, header: FrameHeader, frame: np.ndarray, judgements: list[Judgement], *, production_waiting: bool = False) -> None:
        """After production's verdict was sent: hand the frame to the shadow, or skip it (and count) if it is busy.

        ``production_waiting``: the next frame is already queued for production. The shadow then skips this one:
        its worker, though at nice 19, holds the GIL in its pre- and post-processing, and on a busy CPU a
        low-priority thread holding the GIL delays production (priority inversion).
        """
        if not self.active:
            return
        self.offered += 1
        with self._wake:
            if production_waiting or self._busy or self._mailbox is not None:
                self.skipped += 1
                self.skipped_total += 1
                return
            self._mailbox = (header, frame, judgements)
            self._wake.notify()

    def _start_worker(self, order: ShadowOrder) -> None:
        self._stop.clear()
        self._mailbox, self._busy = None, False
        self._worker = threading.Thread(target=self._work, args=(order,), name="shadow", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._stop.set()
            with self._wake:
                self._wake.notify()
            self._worker.join(30)
            self._worker = None

    def _work(self, order: ShadowOrder) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread, and the runtime's threads it starts
        except OSError as err:
            log.warning("shadow: cannot lower its priority: %s", err)
        import dataclasses

        from inspector.engine.detector import DefectDetector
        from inspector.modelops.gate import slot_detector_config

        slot = slot_names(self.config).index(order.slot)
        record = ShadowRecord(run_folder(self.registry, order.run))
        engine = None
        try:
            self.registry.check(order.candidate)
            label = self.registry.package(order.candidate).label
            detector = dataclasses.replace(slot_detector_config(self.config, order.slot, self.registry.onnx_path(order.candidate)),
                                           intra_op_threads=1, intra_op_spinning=False)
            engine = DefectDetector(detector)
            log.info("shadow run %s: %s beside production for %d parts", order.run, label, order.parts)
            while not self._stop.is_set():
                with self._wake:
                    while self._mailbox is None and not self._stop.is_set():
                        self._wake.wait(0.5)
                    if self._stop.is_set():
                        break
                    (header, frame, judgements), self._mailbox = self._mailbox, None
                    self._busy = True
                try:
                    candidate = engine.inspect(frame).judgements[0]
                    production = judgements[slot]
                    record.add(header, frame, production, candidate, _reason(production), _reason(candidate))
                finally:
                    with self._wake:
                        self._busy = False
                self._record_skipped(record)
                if record.compared() >= order.parts:
                    self._finish(order, label, record)
                    break
        except Exception as err:  # the shadow never takes production down
            log.exception("shadow run %s stopped", order.run)
            self._raise("model_shadow", "warning", f"shadow run {order.run} stopped: {type(err).__name__}: {err}")
        finally:
            self._record_skipped(record)
            record.close()
            if engine is not None:
                engine.close()

    def _record_skipped(self, record: ShadowRecord) -> None:
        with self._wake:
            skipped, self.skipped = self.skipped, 0
        if skipped:
            record.count_skipped(skipped)

    def _finish(self, order: ShadowOrder, label: str, record: ShadowRecord) -> None:
        self._record_skipped(record)
        folder = record.folder
        summary = shadow_summary(folder)
        report = {"run": order.run, "candidate": order.candidate, "label": label, "slot": order.slot,
                  "finished_at": time.time(), **summary}
        self.registry.trail.record("detector", "model_shadow_report", order.candidate, None, report)
        self._raise("shadow_report", "info",
                    f"shadow run of {label}: {summary['compared']} parts, {summary['agreed']} agreed, "
                    f"{summary['candidate_passes_production_rejects']} it would pass that production rejects, "
                    f"{summary['candidate_rejects_production_passes']} it would reject that production passes, "
                    f"{summary['skipped']} skipped; report {folder / 'report.md'}")
        (folder / "report.md").write_text(_report_markdown(order, label, summary))
        (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n")  # last: its presence means done

    def close(self) -> None:
        """Stop the worker and send what it raised (call before the alarm socket closes)."""
        self._stop_worker()
        self.poll(float("-inf"))
        self.registry.close()


def shadow_reject_rate(registry: ModelRegistry, package_id: str) -> tuple[float, str] | None:
    """The reject rate the latest finished shadow run of a package measured, and the run; None if it never ran in shadow."""
    root = registry.folder / SHADOW
    reports = []
    for path in root.glob("*/report.json") if root.is_dir() else []:
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if report.get("candidate") == package_id and report.get("candidate_reject_rate") is not None:
            reports.append(report)
    if not reports:
        return None
    latest = max(reports, key=lambda r: r.get("finished_at", 0))
    return float(latest["candidate_reject_rate"]), str(latest["run"])

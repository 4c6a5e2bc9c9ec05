"""The shadow order: which candidate runs in shadow, in which slot, for how many parts (CLI and HMI side).

``<registry>/shadow.json``, owner-only, sealed with the audit key like the
production pointer: an order changed by hand is refused. Starting and
stopping a run are audited.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from inspector.errors import ModelError
from inspector.modelops.pointer import canonical
from inspector.modelops.registry import ModelRegistry, slot_names

ORDER = "shadow.json"
ORDER_FORMAT = "inspector-model-shadow/1"
SEAL_PURPOSE = "model-shadow"
SHADOW = "shadow"  # <registry>/shadow/<run>/: each run's record and report


@dataclass(frozen=True)
class ShadowOrder:
    run: str  # the run's folder name
    candidate: str  # package id
    slot: str
    parts: int
    started_by: str
    started_at: float


def order_path(registry: ModelRegistry) -> Path:
    return registry.folder / ORDER


def run_folder(registry: ModelRegistry, run: str) -> Path:
    return registry.folder / SHADOW / run


def read_order(registry: ModelRegistry) -> ShadowOrder | None:
    """The sealed shadow order, None when no shadow run is ordered; :class:`ModelError` if it lost its seal."""
    path = order_path(registry)
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
        order_path(registry).unlink()
        registry.trail.record(user, "model_shadow_stop", order.candidate, asdict(order), None)
    return order


def _write_order(registry: ModelRegistry, order: ShadowOrder) -> None:
    body = {"format": ORDER_FORMAT, "order": asdict(order)}
    document = {**body, "seal": registry.trail.seal(SEAL_PURPOSE, canonical(body))}
    registry.folder.mkdir(parents=True, exist_ok=True)
    path = order_path(registry)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(document, indent=2) + "\n")
    os.replace(temp, path)

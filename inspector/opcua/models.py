"""Model (recipe) selection from OPC UA: which models a client may select, and what became of a selection.

A recipe names a model in the station's registry: a package by label
(``name@version``) or content hash (package id, or a prefix of 6+ characters),
or a model file (``.onnx``) installed in the registry (found by its content).
The detector's configured model is always offered under its folder name.

Selecting one promotes it to the production model of the primary slot through
the registry (:mod:`inspector.modelops.selection`: only gated or
formerly-production packages; audited with the client's certificate subject as
the user and ``selected over OPC UA`` as the reason); the detector hot-swaps
it between parts. :class:`SelectionStatus` follows the outcome: ``pending``
until a verdict carries the model's version (``active``), ``refused`` with the
reason, or ``rolled back`` when the registry's production pointer left the
selected package (the detector's automatic rollback, or someone else's promote
or rollback) before or after it decided parts.

A station whose detector does not follow the registry (``models.follow_production``
off) refuses every selection: there is no other path to the running line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from inspector.config.schema import Config
from inspector.errors import InspectorError, OpcUaError
from inspector.modelops.registry import PRIMARY, ModelRegistry

log = logging.getLogger(__name__)
REASON = "selected over OPC UA"
PENDING, ACTIVE, REFUSED, ROLLED_BACK = "pending", "active", "refused", "rolled back"


def available_models(config: Config) -> dict[str, str]:
    """Name -> registry reference or model file: the detector's configured model (under its folder name) and ``opcua.recipes``."""
    models = {Path(config.detector.model).parent.name or "configured": config.detector.model}
    models.update(config.opcua.recipes)
    return models


@dataclass
class SelectionStatus:
    name: str = ""  # the recipe
    label: str = ""  # the model version its verdicts carry
    package: str = ""  # registry package id
    state: str = ""  # "" (none yet) | pending | active | refused | rolled back
    text: str = ""

    def on_verdict(self, model_version: str) -> bool:
        """A part was decided by ``model_version``: a pending selection is active once its model decides."""
        if self.state == PENDING and model_version == self.label:
            self.state, self.text = ACTIVE, f"{self.label} decides the line's parts"
            return True
        return False

    def on_production(self, config: Config) -> bool:
        """Compare with the registry's production pointer: the selection was rolled back if the slot left it."""
        if self.state not in (PENDING, ACTIVE):
            return False
        with ModelRegistry(config) as registry:
            slot = registry.production().slot(PRIMARY)
            if slot.package == self.package:
                return False
            now = registry.package(slot.package).label if slot.package else "the configured model"
        was = "before it decided a part" if self.state == PENDING else "after it decided parts"
        self.state = ROLLED_BACK
        self.text = f"{self.label} was replaced by {now} {was}: {slot.reason or 'no reason given'} (by {slot.promoted_by or 'unknown'})"
        log.warning("OPC UA selection %s: %s", self.name, self.text)
        return True


def select_model(config: Config, name: str, user: str) -> SelectionStatus:
    """Promote the recipe's model (blocking: run it off the server's event loop). :class:`OpcUaError` for a name the
    station does not offer; a refusal comes back as a ``refused`` status with the reason."""
    from inspector.modelops.selection import select

    models = available_models(config)
    if name not in models:
        raise OpcUaError(f"no model named {name!r} (available: {', '.join(sorted(models))})")
    if not config.models.follow_production:
        return SelectionStatus(name, state=REFUSED, text="the detector does not follow the model registry "
                               "(models.follow_production is off): no model can be selected on this station")
    try:
        with ModelRegistry(config) as registry:
            chosen = select(registry, models[name], user, REASON)
    except InspectorError as err:
        log.warning("OPC UA model selection of %s by %s refused: %s", name, user, err)
        return SelectionStatus(name, state=REFUSED, text=str(err))
    package = chosen.package
    if chosen.already_active:
        log.info("model %s (%s) selected over OPC UA by %s: it is production already", name, package.label, user)
        return SelectionStatus(name, package.label, package.package_id, PENDING,
                               f"{package.label} is the production model already")
    log.info("model %s (%s) selected over OPC UA by %s: the detector swaps to it between parts", name, package.label, user)
    return SelectionStatus(name, package.label, package.package_id, PENDING,
                           f"{package.label} is production; the detector swaps to it between parts")

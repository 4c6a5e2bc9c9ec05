"""Model (recipe) selection from OPC UA: which models a client may select, and the selection kept for the next start.

There is no hot swap of the detector's model on a running line: a selection is
recorded in ``opcua.folder/selected-model.json`` and the detector loads the
selected model at its next start (:func:`with_selected_model`), through the same
signature check as the configured one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

from inspector.config.schema import Config
from inspector.errors import OpcUaError

log = logging.getLogger(__name__)
SELECTION_FILE = "selected-model.json"


def available_models(config: Config) -> dict[str, str]:
    """Name -> model file: the detector's configured model (under its folder name) and ``opcua.recipes``."""
    models = {Path(config.detector.model).parent.name or "configured": config.detector.model}
    models.update(config.opcua.recipes)
    return models


def select_model(config: Config, name: str, user: str = "") -> dict:
    models = available_models(config)
    if name not in models:
        raise OpcUaError(f"no model named {name!r} (available: {', '.join(sorted(models))})")
    selection = {"name": name, "model": models[name], "t": time.time(), "by": user}
    path = Path(config.opcua.folder) / SELECTION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(selection))
    os.replace(tmp, path)
    log.info("model %s (%s) selected over OPC UA by %s; it runs from the line's next start", name, models[name], user or "a client")
    return selection


def selected_model(config: Config) -> dict | None:
    path = Path(config.opcua.folder or "") / SELECTION_FILE
    if not config.opcua.folder or not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log.error("the OPC UA model selection %s cannot be read (%s): the configured model runs", path, err)
        return None


def with_selected_model(config: Config) -> Config:
    """The config with the model selected over OPC UA, if there is one the config still offers."""
    selection = selected_model(config)
    if not selection:
        return config
    models = available_models(config)
    if models.get(selection.get("name")) != selection.get("model"):
        log.warning("the model selected over OPC UA (%s) is no longer offered by the config: the configured model runs", selection.get("name"))
        return config
    if selection["model"] == config.detector.model:
        return config
    log.info("running model %s selected over OPC UA", selection["name"])
    return dataclasses.replace(config, detector=dataclasses.replace(config.detector, model=selection["model"]))

"""The soak's station: the shipped config with every plant output on, a small synthetic camera at the soak's rate.

Some settings the soak needs may not exist yet in the schema (the recorder's
free-space thresholds, a supervised HMI): they are looked for by name and
set when found; the report says what was found and set.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from inspector.bench.outputs import METRICS_PORTS, free_port_block
from inspector.bench.soak.settings import SoakSettings
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.schema import Config, PlcTag
from inspector.line_setup import local_line_config
from inspector.netutil import free_tcp_port

ALARM_TAG = "Inspector_Alarms"  # the auxiliary tag the refused-tag fault takes away
OPCUA_CLIENT = "soak"


def soak_config(settings: SoakSettings, data_dir: Path, broker_port: int) -> tuple[Config, dict[str, Any]]:
    """The config, and notes on what was found in the schema and set (for the report)."""
    base = load_config(settings.config or DEFAULT_CONFIG)
    config = local_line_config(base, data_dir, parts=0, rate_hz=settings.rate_hz)
    cameras = [dataclasses.replace(c, width=settings.width, height=settings.height, defect_rate=settings.defect_rate)
               if c.driver == "synthetic" else c for c in config.cameras]
    tags = config.plc.tags if config.plc.tags.alarms is not None else dataclasses.replace(config.plc.tags, alarms=PlcTag(ALARM_TAG, "DINT"))
    plc = dataclasses.replace(config.plc, simulator=settings.plc == "supervised", tags=tags)
    endpoint = f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/"
    opcua = dataclasses.replace(config.opcua, enabled=True, endpoint=endpoint)
    mqtt = dataclasses.replace(config.plant.mqtt, enabled=True, host="127.0.0.1", port=broker_port, tls=None, username=None,
                               password_file=None)
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, host="127.0.0.1", base_port=free_port_block(METRICS_PORTS))
    config = dataclasses.replace(config, cameras=cameras, plc=plc, opcua=opcua,
                                 plant=dataclasses.replace(config.plant, mqtt=mqtt, metrics=metrics))
    notes: dict[str, Any] = {"plc": settings.plc, "alarm_tag": tags.alarms.name}
    recorder, notes["disk"] = disk_thresholds(config.recorder, Path(config.recorder.database).parent, settings)
    config = dataclasses.replace(config, recorder=recorder)
    config, notes["hmi_supervised_by"] = supervised_hmi(config)
    return config, notes


# -- the recorder's free-space thresholds, relative to the free space now -----------------------------------------


def _numeric_fields(obj: Any, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted path, field, owner) of every int/float field, one nested dataclass deep."""
    found = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not prefix:
            found += _numeric_fields(value, f"{f.name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append((prefix + f.name, f, obj))
    return found


def _threshold_value(name: str, free_bytes: int, total_bytes: int) -> float | None:
    """``free_bytes`` (the free space the threshold should sit at) in the unit the field's name says; None if unknown."""
    used = "used" in name or "usage" in name
    if name.endswith(("_percent", "_pct")):
        return round(100.0 * ((total_bytes - free_bytes) if used else free_bytes) / total_bytes, 3)
    if name.endswith(("_fraction", "_share", "_ratio")):
        return round(((total_bytes - free_bytes) if used else free_bytes) / total_bytes, 5)
    if used:
        return None
    for suffix, unit in (("_bytes", 1), ("_kb", 1024), ("_mb", 1024**2), ("_mib", 1024**2), ("_gb", 1024**3), ("_gib", 1024**3)):
        if name.endswith(suffix):
            return round(free_bytes / unit, 3)
    return None


def disk_thresholds(recorder: Any, folder: Path, settings: SoakSettings) -> tuple[Any, dict[str, Any]]:
    """The recorder config with its warning/critical free-space thresholds set just below the free space now."""
    folder.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(folder)
    targets = {"warning": usage.free - settings.disk_warn_margin, "critical": usage.free - settings.disk_crit_margin}
    note: dict[str, Any] = {"free_at_start": usage.free, "total": usage.total, "free_warning": targets["warning"],
                            "free_critical": targets["critical"], "fields": {}}
    changes: dict[str, dict[str, Any]] = {}
    levels: set[str] = set()
    for path, f, _owner in _numeric_fields(recorder):
        name = f.name.lower()
        if not any(word in path.lower() for word in ("free", "disk", "space", "usage", "used")):
            continue
        level = "warning" if "warn" in name else "critical" if "crit" in name else None
        if level is None:
            continue
        value = _threshold_value(name, targets[level], usage.total)
        if value is None:
            note["fields"][path] = "unit not understood: left as configured"
            continue
        if isinstance(getattr(_owner, f.name), int):
            value = int(value)
        changes.setdefault(path.rpartition(".")[0], {})[f.name] = value
        note["fields"][path] = value
        levels.add(level)
    for section, values in changes.items():
        if section:
            recorder = dataclasses.replace(recorder, **{section: dataclasses.replace(getattr(recorder, section), **values)})
        else:
            recorder = dataclasses.replace(recorder, **values)
    note["levels"] = sorted(levels)  # the thresholds the soak could set: the disk fault needs at least one
    return recorder, note


# -- an HMI the supervisor runs, when the schema has a switch for it -----------------------------------------------


def supervised_hmi(config: Config) -> tuple[Config, str]:
    """Turn on the supervisor's HMI if the schema has a switch for it; '' when it has none (the soak runs the HMI)."""
    hmi = getattr(config, "hmi", None)
    if hmi is not None and dataclasses.is_dataclass(hmi):
        for name in ("enabled", "supervised", "run"):
            if isinstance(getattr(hmi, name, None), bool):
                return dataclasses.replace(config, hmi=dataclasses.replace(hmi, **{name: True})), f"hmi.{name}"
    for f in dataclasses.fields(config.supervisor):
        if "hmi" in f.name and isinstance(getattr(config.supervisor, f.name), bool):
            sup = dataclasses.replace(config.supervisor, **{f.name: True})
            return dataclasses.replace(config, supervisor=sup), f"supervisor.{f.name}"
    return config, ""

"""The soak's station: the shipped config with every plant output on, a small synthetic camera at the soak's rate,
the HMI run by the supervisor, and the recorder's free-space limits just below the free space at start (so the disk
fault's ballast crosses them); the report says what was set."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from inspector.bench.outputs import METRICS_PORTS, free_port_block
from inspector.bench.soak.settings import SoakSettings
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.schema import Config, PlcTag, RecorderConfig
from inspector.line_setup import local_line_config
from inspector.netutil import free_tcp_port

MIB = 1024 * 1024
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


# -- the recorder's free-space limits, relative to the free space now -----------------------------------------------


def disk_thresholds(recorder: RecorderConfig, folder: Path, settings: SoakSettings) -> tuple[RecorderConfig, dict[str, Any]]:
    """The recorder config with its warning and critical free-space limits just below the free space now (in MiB; the
    share-of-disk limits off), so the disk fault's ballast file crosses them without filling the disk."""
    folder.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(folder)
    warning, critical = usage.free - settings.disk_warn_margin, usage.free - settings.disk_crit_margin
    limits = dataclasses.replace(recorder.disk_space, warning_free_mb=round(warning / MIB, 1), warning_free_percent=0.0,
                                 critical_free_mb=round(critical / MIB, 1), critical_free_percent=0.0)
    note = {"free_at_start": usage.free, "total": usage.total, "free_warning": warning, "free_critical": critical,
            "fields": {"recorder.disk_space.warning_free_mb": limits.warning_free_mb,
                       "recorder.disk_space.critical_free_mb": limits.critical_free_mb},
            "levels": ["critical", "warning"]}
    return dataclasses.replace(recorder, disk_space=limits), note


# -- the HMI, run and restarted by the station's supervisor ------------------------------------------------------------


def supervised_hmi(config: Config) -> tuple[Config, str]:
    """The supervisor runs the HMI (supervisor.hmi: run): restarted when it dies or freezes, with an alarm."""
    return dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, hmi="run")), "supervisor.hmi"

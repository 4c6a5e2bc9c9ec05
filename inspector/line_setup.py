"""Derive a runnable line config from a base config: own data folder, its own endpoints, a PLC simulator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inspector.channels import CHANNELS
from inspector.config.schema import Config
from inspector.netutil import free_tcp_ports


def local_line_config(
    base: Config, data_dir: Path, *, parts: int = 0, rate_hz: float | None = None, simulate_plc: bool = True,
    tcp: bool = False,
) -> Config:
    """``base`` with storage under ``data_dir`` and the PLC simulator on a loopback port that is free now.

    The line's endpoints follow the station's rule (socket files in ``data_dir/state/ipc``); ``tcp``: loopback TCP
    ports that are free now instead, as a station whose channels cross hosts sets them."""
    data_dir = data_dir.resolve()
    channels = list(CHANNELS)
    *ports, plc_port = free_tcp_ports(len(channels) + 1)
    endpoints = {name: f"tcp://127.0.0.1:{port}" if tcp else None for name, port in zip(channels, ports)}
    cameras = [
        dataclasses.replace(c, max_parts=parts, rate_hz=rate_hz or c.rate_hz) for c in base.cameras
    ]
    plc = base.plc
    if simulate_plc:
        plc = dataclasses.replace(plc, address=f"127.0.0.1:{plc_port}", simulator=True)
    return dataclasses.replace(
        base,
        station=dataclasses.replace(base.station, state_dir=str(data_dir / "state")),
        security=dataclasses.replace(base.security, keys_dir=str(data_dir / "state" / "keys")),
        cameras=cameras,
        plc=plc,
        recorder=dataclasses.replace(
            base.recorder, database=str(data_dir / "inspector.db"), image_dir=str(data_dir / "images")
        ),
        transport=dataclasses.replace(base.transport, ipc_dir=None, **endpoints),  # its own folder, not the base's
        reports=dataclasses.replace(base.reports, folder=str(data_dir / "reports")),
        opcua=dataclasses.replace(base.opcua, folder=str(data_dir / "state" / "opcua")),
    )

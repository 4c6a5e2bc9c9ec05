"""Shared test helpers: a line config on free loopback ports, waiting for conditions."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402
from inspector.config.schema import Config  # noqa: E402
from inspector.line_keys import init_keys  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def quick_supervision(config: Config) -> Config:
    """Faster heartbeats and restarts, so fault tests run in seconds."""
    sup = dataclasses.replace(
        config.supervisor,
        heartbeat_interval_s=0.2,
        heartbeat_timeout_s=2.0,
        restart_backoff_initial_s=0.2,
        restart_backoff_max_s=1.0,
    )
    return dataclasses.replace(config, supervisor=sup)


@pytest.fixture
def line_config(tmp_path: Path) -> Callable[..., Config]:
    """Build the default station's config for a test: own folder, its own endpoints, PLC simulator."""

    def build(parts: int = 0, rate_hz: float = 10.0, budget_ms: float = 2000.0, tcp: bool = False,
              **detector_overrides) -> Config:
        """Functional tests get a generous budget: latency is measured in benchmarks/, not here. The line talks over
        socket files, as a station does by default; ``tcp``: over loopback TCP ports, as channels that cross hosts."""
        config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line", parts=parts, rate_hz=rate_hz, tcp=tcp)
        config = dataclasses.replace(
            config,
            detector=dataclasses.replace(config.detector, **detector_overrides),
            actuator=dataclasses.replace(config.actuator, budget_ms=budget_ms),
        )
        init_keys(Path(config.security.keys_dir))  # installed, as 'inspector keys init' does
        return quick_supervision(config)

    return build

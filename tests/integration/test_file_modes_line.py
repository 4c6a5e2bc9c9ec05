"""A line started from a login shell (umask 022) writes nothing another local user can read.

Every stored image was 0644, as were the services' logs, the last-known-good model copies and the station config.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from inspector.line_runner import part_rows, running_line
from inspector.model_trust import lkg_folder
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def open_to_others(paths) -> dict[str, str]:
    return {str(p): stat.filemode(p.stat().st_mode) for p in paths if stat.S_IMODE(p.stat().st_mode) & 0o077}


def test_images_logs_model_copies_and_the_config_of_a_running_line_are_owner_only(line_config, tmp_path):
    config = line_config(parts=12, rate_hz=10)
    old = os.umask(0o022)
    try:
        with running_line(config, tmp_path):
            wait_until(lambda: len(part_rows(config)) >= 12, 90, "12 decided parts")
            images = Path(config.recorder.image_dir)
            wait_until(lambda: any(p.is_file() for p in images.rglob("*.png")), 30, "a stored image")
    finally:
        os.umask(old)
    written = {
        "images": [images, *images.rglob("*")],
        "logs": [tmp_path / "logs", *(tmp_path / "logs").glob("*.log")],
        "last-known-good": [lkg_folder(config), *lkg_folder(config).rglob("*")],
        "config": [tmp_path / "station.yaml"],
        "databases": [Path(config.recorder.database)],
    }
    assert all(len(paths) > 1 or name in ("config", "databases") for name, paths in written.items()), written
    assert {name: open_to_others(paths) for name, paths in written.items()} == {name: {} for name in written}
    assert stat.S_IMODE(next(images.rglob("*.png")).stat().st_mode) == 0o600

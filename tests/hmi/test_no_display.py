"""`inspector hmi` where no window can be opened: a clear error and what to do, not Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from inspector.config import write_config


@pytest.mark.parametrize(
    ("display", "expected"),
    [(None, "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"), (":97", "cannot reach the X display ':97'")],
    ids=["unset", "no-server"],
)
def test_the_hmi_without_a_usable_display_says_why_and_what_to_do(line_config, tmp_path, display, expected):
    config_file = tmp_path / "station.yaml"
    write_config(line_config(), config_file)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if display:
        env["DISPLAY"] = display
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "hmi", "--config", str(config_file)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr
    assert "--no-hmi" in run.stderr and "QT_QPA_PLATFORM=offscreen" in run.stderr
    assert run.stderr.count("inspector: error:") == 1, "said once"


def test_the_demo_with_a_display_it_cannot_reach_runs_without_the_hmi_and_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DISPLAY"] = ":97"
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--parts", "3", "--data-dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "inspector demo: no HMI: cannot reach the X display ':97'" in run.stderr
    assert "parts inspected        3" in run.stdout

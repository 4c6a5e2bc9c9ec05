"""The HMI on a real X server (Xvfb, no window manager), driven with real X events (issue 28 items 1 and 4).

Xvfb gets a display of its own between :70 and :79 (never the one a soak or a
desktop uses). The HMI runs as its own process on Qt's xcb platform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QWidget

from hmi.kiosk import show_full_screen
from inspector.config.loader import write_config
from tests.hmi.test_screens import config, line  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def panel_1024(tmp_path):
    """A 1024 x 768 X screen without a window manager, on the first free display of :70 to :79."""
    number = next((n for n in range(70, 80) if not Path(f"/tmp/.X{n}-lock").exists()
                   and not Path(f"/tmp/.X11-unix/X{n}").exists()), None)
    missing = [tool for tool in ("Xvfb", "xdotool", "xwininfo") if not shutil.which(tool)]
    assert not missing, f"{', '.join(missing)} missing: scripts/ensure-system-packages installs them (make test runs it)"
    assert number is not None, "no free X display between :70 and :79"
    log = (tmp_path / "xvfb.log").open("w")
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert xvfb.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    yield env
    xvfb.terminate()
    xvfb.wait(10)
    log.close()


def window_geometry(env: dict, name: str) -> tuple[int, int, int, int] | None:
    """x, y, width, height of the first mapped X window called ``name``, as the X server has it."""
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env=env, capture_output=True, text=True)
    ids = found.stdout.split()
    if not ids:
        return None
    info = subprocess.run(["xwininfo", "-id", ids[0]], env=env, capture_output=True, text=True).stdout
    field = lambda label: int(re.search(rf"{label}:\s+(-?\d+)", info).group(1))
    return field("Absolute upper-left X"), field("Absolute upper-left Y"), field("Width"), field("Height")


def test_fullscreen_fills_a_1024x768_screen_without_a_window_manager(panel_1024, config, tmp_path):
    station = tmp_path / "station.yaml"
    write_config(config, station)
    log = (tmp_path / "hmi.log").open("w")
    hmi = subprocess.Popen([sys.executable, "-m", "inspector", "hmi", "--config", str(station), "--fullscreen",
                            "--db-only", "--demo-users"], env=panel_1024, cwd=ROOT, stdout=log, stderr=log)
    try:
        geometry, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and hmi.poll() is None:
            geometry = window_geometry(panel_1024, "Inspector")
            if geometry == (0, 0, 1024, 768):
                break
            time.sleep(0.5)
        assert geometry == (0, 0, 1024, 768), f"the window is at {geometry}, the screen 1024x768 at 0,0 " \
                                               f"({(tmp_path / 'hmi.log').read_text()[-800:]})"
    finally:
        hmi.terminate()
        hmi.wait(20)
        log.close()


def test_real_x_taps_0_1_s_after_a_new_reject_mark_the_card_that_was_seen(panel_1024, config, tmp_path):
    station, out = tmp_path / "station.yaml", tmp_path / "taps.json"
    write_config(config, station)
    log = (tmp_path / "operator.log").open("w")
    run = subprocess.run([sys.executable, "-m", "tests.hmi.x_operator", str(tmp_path), str(station), str(out), "30"],
                         env=panel_1024, cwd=ROOT, stdout=log, stderr=log, timeout=580)
    log.close()
    assert run.returncode == 0 and out.exists(), (tmp_path / "operator.log").read_text()[-1500:]
    trials = json.loads(out.read_text())
    assert len(trials) == 30
    wrong = [t for t in trials if t["marked"] != [t["seen"]]]
    assert not wrong, f"{len(wrong)} of 30 taps marked another part than the card seen: {wrong[:5]}"


def test_the_window_takes_its_screens_geometry_again_when_the_screen_changes(qtbot):
    window = QWidget()  # any window (the offscreen screen, 800 x 800, is narrower than the HMI's least width)
    qtbot.addWidget(window)
    fill = show_full_screen(window)
    screen = window.windowHandle().screen()
    qtbot.waitUntil(lambda: window.geometry() == screen.geometry(), timeout=5_000)
    window.showNormal()
    window.setGeometry(QRect(10, 10, 800, 600))  # the panel's resolution set differently, say
    qtbot.wait(50)
    assert window.geometry() != screen.geometry()
    screen.geometryChanged.emit(screen.geometry())  # what Qt sends when the screen changes its size
    qtbot.waitUntil(lambda: window.geometry() == screen.geometry(), timeout=5_000)
    window.setGeometry(QRect(10, 10, 800, 600))
    qtbot.wait(50)
    window.windowHandle().screenChanged.emit(screen)  # moved to another screen
    qtbot.wait(50)
    assert window.geometry() == screen.geometry(), (window.geometry(), screen.geometry(), window.windowState())
    assert fill.parent() is window

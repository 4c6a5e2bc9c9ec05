"""The Qt binding the HMI runs on never loses references to None (PySide6 6.12.0 does, and the HMI aborts in minutes).

Run with a leaking binding's Python (a scratch venv with pyside6-essentials==6.12.0 and Inspector's
dependencies), these tests fail: benchmarks/results/qt_binding.md has the figures for each release.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import PySide6
import pytest

from hmi.qt_binding import (
    LEAK_TOLERANCE, SELF_CHECK_CALLS, BindingCheck, check_binding, pinned_requirement, require_sound_binding,
)
from inspector.config import write_config

REPO = Path(__file__).resolve().parents[2]
VOID_CALLS = 10_000  # of each kind: a leaking binding loses 10,000 references per kind, a sound one none
NOISE = 50  # unrelated movement of None's count over one kind's calls (measured: at most +5 on a sound binding)


def offscreen_env() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def test_ten_thousand_of_each_void_qt_call_the_hmi_makes_leave_nones_reference_count_where_it_was():
    """The real HMI window in a fresh process: each kind of void call 10,000 times, then its update paths."""
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "qt_none_refcount.py"), "--calls", str(VOID_CALLS),
         "--path-calls", "500", "--json", "-"],
        capture_output=True, text=True, timeout=240, env=offscreen_env(), cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["pyside6"] == PySide6.__version__, "measured the binding this suite runs on"
    assert result["void_calls"] == 8 * VOID_CALLS
    lost = [f"{r['call']} ({r['on']}): {r['drift']:+,} over {r['calls']:,} calls" for r in result["rows"]
            if r["drift"] < -NOISE]
    assert not lost, (f"PySide6 {result['pyside6']} loses a reference to None on void Qt calls (the HMI aborts with "
                      f"'Fatal Python error: none_dealloc' within minutes): " + "; ".join(lost))


def test_the_start_up_check_finds_no_leak_in_the_installed_binding(qapp):
    check = check_binding()
    assert check.version == PySide6.__version__ and check.calls == SELF_CHECK_CALLS
    assert not check.leaking, check.problem()
    assert abs(check.drift) <= LEAK_TOLERANCE and check.problem() == ""


def test_the_venv_runs_the_binding_pyproject_pins():
    pins = [d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
            if d.lower().startswith("pyside6")]
    assert pins == [f"pyside6-essentials=={PySide6.__version__}"], "reinstall the venv: `make clean-venv test`"
    assert pinned_requirement() == pins[0], "the fix the refusal names is the pin"


@pytest.mark.parametrize(("drift", "leaking"), [
    (0, False), (5, False), (-LEAK_TOLERANCE, False),  # a sound binding, and unrelated noise
    (-SELF_CHECK_CALLS, True),  # every void call loses one reference: PySide6 6.12.0
    (-SELF_CHECK_CALLS // 5, True),  # one kind of call in five leaks
])
def test_a_binding_counts_as_leaking_when_nones_count_falls_beyond_noise(drift, leaking):
    assert BindingCheck("6.x", SELF_CHECK_CALLS, drift).leaking is leaking


def test_the_refusal_names_the_binding_the_consequence_and_the_pinned_version_to_install():
    problem = BindingCheck("6.12.0", 200, -200).problem()
    assert "PySide6 6.12.0" in problem and "fell by 200 over 200" in problem
    assert "none_dealloc" in problem and "black screen" in problem
    assert f"{sys.executable} -m pip install '{pinned_requirement()}'" in problem


def test_on_a_sound_binding_the_check_lets_the_hmi_start_and_logs_what_it_measured(qapp, caplog):
    caplog.set_level("INFO", logger="hmi.qt_binding")
    assert not require_sound_binding().leaking
    assert f"Qt binding PySide6 {PySide6.__version__}: no reference to None lost over {SELF_CHECK_CALLS}" in caplog.text


def test_inspector_hmi_checks_the_binding_before_it_opens_the_window(line_config, tmp_path):
    """The command a station runs: on a leaking binding it exits 2 with the problem; here it starts and says so."""
    station = tmp_path / "station.yaml"
    write_config(line_config(), station)
    log = tmp_path / "hmi.log"
    with log.open("wb") as out:
        hmi = subprocess.Popen([sys.executable, "-m", "inspector", "hmi", "--config", str(station), "--db-only"],
                               stdout=out, stderr=subprocess.STDOUT, env=offscreen_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while "no reference to None lost" not in log.read_text() and hmi.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hmi.poll() is None, f"the HMI exited ({hmi.returncode}): {log.read_text()[-2000:]}"
        assert f"Qt binding PySide6 {PySide6.__version__}: no reference to None lost" in log.read_text()
    finally:
        hmi.terminate()
        hmi.wait(10)

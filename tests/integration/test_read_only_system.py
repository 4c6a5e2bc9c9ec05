"""The line runs as the station's unit confines it: the whole file system read-only (ProtectSystem=strict) but for
the folders the units make writable, with the frame ring in /dev/shm.

The confinement is made here as systemd makes it, in a mount namespace of the line's own (``unshare``): ``/``
re-mounted read-only, the API file systems (``/dev``, with ``/dev/shm``) left as they are, then each folder of
:func:`writable_folders` (the units' ``ReadWritePaths``/``StateDirectory``/``LogsDirectory``) bound writable again.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.config import write_config
from inspector.frame_ring import ring_path
from inspector.install.layout import writable_folders
from inspector.line_runner import part_rows
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def can_confine() -> bool:
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                            "mount -o remount,bind,ro / && ! touch /.inspector-probe 2>/dev/null"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_confine(), reason="needs CAP_SYS_ADMIN for a mount namespace (unshare --mount)")
def test_the_line_needs_no_writable_folder_beyond_the_units_and_keeps_its_frame_ring(line_config, tmp_path):
    config = line_config(parts=20, rate_hz=5)
    log_dir = tmp_path / "logs"
    config_file = tmp_path / "config" / "station.yaml"
    write_config(config, config_file)  # read-only to the line, as /etc/inspector is
    folders = writable_folders(config, log_dir)
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)  # the installer makes them
    confine = ["mount -o remount,bind,ro /"] + [
        f"mount --bind {shlex.quote(f)} {shlex.quote(f)} && mount -o remount,bind,rw {shlex.quote(f)}" for f in folders
    ]
    command = shlex.join([sys.executable, "-m", "inspector", "run", "--config", str(config_file), "--log-dir", str(log_dir)])
    line = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", " && ".join(confine) + f" && exec {command}"],
        stderr=subprocess.PIPE, text=True, cwd="/",
    )
    ring = ring_path(config.station.state_dir, config.cameras[0].name)
    try:
        rows = wait_until(lambda: len(part_rows(config)) >= 20 and part_rows(config), 120, "20 decided parts")
        assert ring.exists(), "the camera hands frames over in /dev/shm"
    finally:
        line.send_signal(signal.SIGTERM)
        _, stderr = line.communicate(timeout=90)
    assert line.returncode == 0, stderr[-2000:]
    assert [r["part_id"] for r in rows] == list(range(1, 21))
    assert {r["source"] for r in rows} == {"verdict"} and all(r["plc_delivered"] == 1 for r in rows)
    logs = "".join(p.read_text(errors="replace") for p in log_dir.glob("*.log")) + stderr
    assert "Read-only file system" not in logs, "nothing the line does tries to write outside its folders"

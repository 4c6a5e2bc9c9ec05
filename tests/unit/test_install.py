"""``inspector install --root``: the station's units, config, user and owner-only folders, in a temporary root.

The units are checked by systemd's own tools: ``systemd-analyze verify`` (every key and value understood, the
programs they run exist), ``systemd-sysusers --root`` (the user an image's first boot makes) and
``systemctl --root enable`` (the [Install] section).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from inspector.cli import main
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import EXIT_REFUSED
from inspector.supervisor import line_processes

UNITS = Path("etc/systemd/system")
# what the units run and the files the station reads: paths of the installed system, outside home and temporary
# folders wherever this checkout lives (under --root they need not exist yet; systemd-analyze wants the program)
PYTHON = "/usr/bin/python3"
MODEL = "/opt/inspector/models/line3/model.onnx"
TRUSTED_KEYS = "/opt/inspector/trusted-keys"


def install(root: Path, config: Path, *extra: str) -> int:
    return main(["install", "--config", str(config), "--root", str(root), "--python", PYTHON, *extra])


def unit_entries(path: Path) -> dict[str, list[str]]:
    """A unit file's [Service] (and other sections') entries; a key may repeat (Environment=)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entries.setdefault(f"{section}.{key}", []).append(value)
    return entries


def one(entries: dict[str, list[str]], key: str) -> str:
    (value,) = entries[key]
    return value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def plant_config(tmp_path: Path, **sections) -> Path:
    """The default station (storage in the home folder) with the plant's model and some sections replaced."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"]["model"] = MODEL
    data["detector"]["trusted_keys"] = [TRUSTED_KEYS]
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    path = tmp_path / "plant" / "station.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_install_into_a_root_writes_the_config_units_and_owner_only_folders(tmp_path, capsys):
    root = tmp_path / "root"
    assert install(root, plant_config(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "systemctl daemon-reload && systemctl enable --now inspector-station.service" in out

    installed = load_config(root / "etc/inspector/station.yaml")
    assert installed.station.state_dir == "/var/lib/inspector/state", "the default's home folder is hidden from units"
    assert installed.recorder.database == "/var/lib/inspector/data/inspector.db"
    assert installed.recorder.image_dir == "/var/lib/inspector/data/images"
    assert installed.security.keys_dir == "/var/lib/inspector/state/keys"
    assert installed.detector.model == MODEL
    assert mode(root / "etc/inspector/station.yaml") == 0o644 and mode(root / "etc/inspector") == 0o755

    state = root / "var/lib/inspector"
    for folder in (state, state / "state", state / "state/keys", state / "data", state / "data/images",
                   root / "var/log/inspector"):
        assert folder.is_dir() and mode(folder) == 0o700, folder
    secrets = sorted(p.name for p in (state / "state/keys").glob("*.key_secret"))
    assert secrets == sorted(f"{i}.key_secret" for i in
                             ("camera", "detector", "actuator", "recorder", "supervisor", "observer", "publisher"))
    assert all(mode(p) == 0o600 for p in (state / "state/keys").iterdir()), "key files owner-only"

    station = unit_entries(root / UNITS / "inspector-station.service")
    assert one(station, "Service.Type") == "notify" and one(station, "Service.NotifyAccess") == "main"
    assert one(station, "Service.ExecStart") == (
        f"{PYTHON} -m inspector run --config /etc/inspector/station.yaml --log-dir /var/log/inspector")
    assert one(station, "Service.ExecStartPre") == f"{PYTHON} -m inspector keys init --config /etc/inspector/station.yaml"
    assert one(station, "Service.User") == "inspector" and one(station, "Service.Group") == "inspector"
    assert one(station, "Service.Restart") == "always" and one(station, "Service.KillMode") == "mixed"
    assert one(station, "Service.UMask") == "0077" and one(station, "Service.ProtectSystem") == "strict"
    assert one(station, "Service.ProtectHome") == "yes" and one(station, "Service.PrivateTmp") == "yes"
    assert one(station, "Service.NoNewPrivileges") == "yes"
    assert "PrivateDevices" not in "".join(station), "/dev/shm (the frame ring), cameras and GPUs stay visible"
    assert one(station, "Service.StateDirectory") == "inspector" and one(station, "Service.LogsDirectory") == "inspector"
    assert one(station, "Install.WantedBy") == "multi-user.target"
    sup = installed.supervisor
    ordered_stop_s = len(line_processes(installed, Path("x"))) * sup.stop_timeout_s + installed.actuator.budget_ms / 1000
    assert int(one(station, "Service.TimeoutStopSec")) > ordered_stop_s, "the supervisor's ordered stop is never cut"
    assert int(one(station, "Service.WatchdogSec")) > ordered_stop_s
    assert int(one(station, "Service.TimeoutStartSec")) > sup.startup_grace_s

    hmi = unit_entries(root / UNITS / "inspector-hmi.service")
    assert one(hmi, "Service.ExecStart").endswith("-m inspector hmi --config /etc/inspector/station.yaml --fullscreen")
    assert one(hmi, "Service.Type") == "notify" and one(hmi, "Service.Restart") == "always"
    assert int(one(hmi, "Service.WatchdogSec")) > 0
    assert one(hmi, "Service.EnvironmentFile") == "-/etc/inspector/hmi.env"
    assert one(hmi, "Service.PrivateTmp") == "no", "the X server's socket is in /tmp/.X11-unix"
    assert "DISPLAY=:0" in (root / "etc/inspector/hmi.env").read_text().splitlines()


def test_the_units_pass_systemd_analyze_verify_and_the_user_and_enable_work_offline(tmp_path):
    for tool in ("systemd-analyze", "systemd-sysusers", "systemctl"):
        assert shutil.which(tool), f"{tool} missing: install the Debian package 'systemd' (scripts/ensure-system-packages)"
    root = tmp_path / "root"
    assert install(root, plant_config(tmp_path), "--groups", "video,render") == 0
    units = [str(root / UNITS / name) for name in ("inspector-station.service", "inspector-hmi.service")]
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr  # it only warns (exit 0) on a bad key

    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True)
    user = next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("inspector:"))
    assert user.split(":")[5:] == ["/var/lib/inspector", "/usr/sbin/nologin"], "a system user without a login"
    assert int(user.split(":")[2]) < 1000

    subprocess.run(["systemctl", f"--root={root}", "enable", "inspector-station.service", "inspector-hmi.service"],
                   check=True, capture_output=True)
    assert (root / UNITS / "multi-user.target.wants/inspector-station.service").is_symlink()
    assert (root / UNITS / "graphical.target.wants/inspector-hmi.service").is_symlink()
    assert one(unit_entries(root / UNITS / "inspector-station.service"), "Service.SupplementaryGroups") == "video render"


def test_a_broken_unit_fails_the_same_check(tmp_path):
    """The check above would see a unit systemd does not understand (it only warns, with exit code 0)."""
    root = tmp_path / "root"
    assert install(root, plant_config(tmp_path)) == 0
    unit = root / UNITS / "inspector-station.service"
    unit.write_text(unit.read_text().replace("KillMode=mixed", "KillMode=mixd"))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0 and "kill mode" in verify.stderr, "exit code 0: the check must read stderr"


def test_a_second_install_keeps_keys_records_and_display_settings(tmp_path, capsys):
    root = tmp_path / "root"
    first = plant_config(tmp_path)
    assert install(root, first) == 0
    keys = root / "var/lib/inspector/state/keys"
    secret = (keys / "actuator.key_secret").read_bytes()
    record = root / "var/lib/inspector/data/inspector.db"
    record.write_bytes(b"rows")
    record.chmod(0o644)  # say, copied in by hand
    env = root / "etc/inspector/hmi.env"
    env.write_text("QT_QPA_PLATFORM=eglfs\n")

    second = plant_config(tmp_path, station={"name": "line-7-cam"})
    assert install(root, second) == 0
    assert (keys / "actuator.key_secret").read_bytes() == secret, "an upgrade never replaces the line's keys"
    assert record.read_bytes() == b"rows" and mode(record) == 0o600, "records kept, made owner-only"
    assert env.read_text() == "QT_QPA_PLATFORM=eglfs\n"
    assert load_config(root / "etc/inspector/station.yaml").station.name == "line-7-cam"
    assert load_config(root / "etc/inspector/station.yaml.previous").station.name == "station-1"

    # the installed file itself, installed again (after an upgrade of the package): validated, kept as it is
    installed = root / "etc/inspector/station.yaml"
    text = installed.read_text()
    capsys.readouterr()
    assert install(root, installed) == 0
    assert installed.read_text() == text
    assert "kept as it is" in capsys.readouterr().out


def test_a_dry_run_changes_nothing(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    assert install(root, plant_config(tmp_path), "--dry-run") == 0
    assert list(root.iterdir()) == []
    out = capsys.readouterr().out
    assert f"would write {root}/etc/systemd/system/inspector-station.service" in out
    assert f"would make {root}/var/lib/inspector/state/keys (0700)" in out


def test_storage_on_the_plants_own_disk_is_kept_and_writable(tmp_path):
    root = tmp_path / "root"
    config = plant_config(tmp_path, recorder={"image_dir": "/srv/line-images"})
    assert install(root, config) == 0
    assert load_config(root / "etc/inspector/station.yaml").recorder.image_dir == "/srv/line-images"
    assert mode(root / "srv/line-images") == 0o700
    for name in ("inspector-station.service", "inspector-hmi.service"):
        assert one(unit_entries(root / UNITS / name), "Service.ReadWritePaths") == "-/srv/line-images"


@pytest.mark.parametrize("field, value", [
    ("detector.model", "/home/integrator/model.onnx"),
    ("plant.mqtt.password_file", "/tmp/broker-password"),
    ("transport.events", "ipc:///tmp/inspector-events"),
])
def test_a_path_the_units_hide_from_the_station_is_refused_naming_the_field(tmp_path, capsys, field, value):
    section, key = field.split(".", 1)
    if "." in key:  # plant.mqtt.password_file
        sub, key = key.split(".")
        overrides = {section: {sub: {"username": "line", key: value}}}
    else:
        overrides = {section: {key: value}}
    root = tmp_path / "root"
    assert install(root, plant_config(tmp_path, **overrides)) == EXIT_REFUSED
    assert f"config field '{field}'" in capsys.readouterr().err
    assert not (root / UNITS).exists()


def test_a_relative_path_means_what_it_meant_beside_the_plants_file(tmp_path, capsys):
    plant_dir = tmp_path / "plant"
    plant_dir.mkdir()
    relative = os.path.relpath(TRUSTED_KEYS, plant_dir)  # ../../../opt/inspector/trusted-keys
    config = plant_config(tmp_path, detector={"trusted_keys": [relative]}, calibration={"folder": "calibration-data"})
    root = tmp_path / "root"
    assert install(root, config) == 0
    installed = load_config(root / "etc/inspector/station.yaml")
    assert installed.detector.trusted_keys == [TRUSTED_KEYS]
    # storage beside a file in /tmp (hidden from the units) goes where the appliance keeps it
    assert installed.calibration.folder is None, "'calibration' beside the database: /var/lib/inspector/data"
    assert f"calibration.folder: {plant_dir}/calibration-data is hidden" in capsys.readouterr().out


def test_with_the_hmis_unit_the_station_watches_the_hmis_heartbeats(tmp_path, capsys):
    root = tmp_path / "root"
    assert install(root, plant_config(tmp_path), "--hmi", "--no-keys") == 0
    installed = load_config(root / "etc" / "inspector" / "station.yaml")
    assert installed.supervisor.hmi == "watch"
    assert "supervisor.hmi: watch" in capsys.readouterr().out
    hmi = [p for p in line_processes(installed, root / "etc" / "inspector" / "station.yaml") if p.name == "hmi"]
    assert len(hmi) == 1 and hmi[0].watched, "watched, never started twice beside its own unit"
    again = tmp_path / "again"
    assert install(again, plant_config(tmp_path, supervisor={"hmi": "run"}), "--hmi", "--no-keys") == 0
    assert load_config(again / "etc" / "inspector" / "station.yaml").supervisor.hmi == "run", "the plant's own choice kept"

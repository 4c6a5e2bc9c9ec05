"""``inspector install`` as root, without --root: the real useradd, chown and modes, in a mount namespace of its own.

The machine is not touched: the install sees a copy of /etc and empty /var/lib and /var/log, bound over the real ones
in a private mount namespace (``unshare --mount``), which the test reads back afterwards. systemd is not PID 1 here,
so the install prints the systemctl commands instead of running them.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inspector.config import DEFAULT_CONFIG


def can_confine() -> bool:
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "true"], capture_output=True)
    return probe.returncode == 0


USER = "inspector-test"  # not a name this machine uses


def passwd_entry(etc: Path, name: str) -> list[str] | None:
    for line in (etc / "passwd").read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


@pytest.mark.skipif(not can_confine(), reason="needs root and a mount namespace (unshare --mount)")
def test_install_as_root_makes_the_user_and_gives_it_owner_only_folders(tmp_path):
    etc, var_lib, var_log = tmp_path / "etc", tmp_path / "var-lib", tmp_path / "var-log"
    shutil.copytree("/etc", etc, symlinks=True)
    var_lib.mkdir()
    var_log.mkdir()
    if passwd_entry(etc, USER) is not None:
        pytest.skip(f"this machine has a user {USER}")
    models = etc / "inspector-models"  # the plant's model, where the station's user may read it (not /tmp, not /home)
    models.mkdir()
    (models / "model.onnx").write_bytes(b"onnx")
    (models / "keys").mkdir()
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["detector"].update(model="/etc/inspector-models/model.onnx", trusted_keys=["/etc/inspector-models/keys"])
    plant = tmp_path / "plant.yaml"
    plant.write_text(yaml.safe_dump(data))
    install = shlex.join([sys.executable, "-m", "inspector", "install", "--config", str(plant), "--python", "/usr/bin/python3",
                         "--user", USER])
    script = " && ".join([
        f"mount --bind {etc} /etc", f"mount --bind {var_lib} /var/lib", f"mount --bind {var_log} /var/log",
        install, "echo ---", install,  # the second time: an upgrade
    ])
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.split("---\n")
    assert f"make the system user {USER}" in first and f"user {USER} exists" in second
    assert "systemctl daemon-reload && systemctl enable --now inspector-station.service" in first

    user = passwd_entry(etc, USER)
    assert user is not None and user[5:] == ["/var/lib/inspector", "/usr/sbin/nologin"], user
    uid, gid = int(user[2]), int(user[3])
    assert uid < 1000, "a system user"
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)  # the machine itself is untouched

    state = var_lib / "inspector"
    for path in [state, *state.rglob("*"), var_log / "inspector"]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (uid, gid), f"{path} belongs to the station's user"
        expected = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        assert stat.S_IMODE(st.st_mode) == expected, f"{path}: {stat.S_IMODE(st.st_mode):o}"
    assert len(list((state / "state/keys").glob("*.key_secret"))) == 7
    config = etc / "inspector/station.yaml"
    assert config.stat().st_uid == 0 and stat.S_IMODE(config.stat().st_mode) == 0o644, "root's, readable"
    unit = (etc / "systemd/system/inspector-station.service").read_text()
    assert f"User={USER}\nGroup={USER}\n" in unit

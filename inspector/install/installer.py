"""``inspector install``: the station as systemd services that start at boot, restart on failure and run as their own
user.

In order: the station's user (``useradd --system``, no login shell; also a
``sysusers.d`` line, from which an image's first boot makes it); the installed
config (:mod:`inspector.install.layout`); the state, data, key and log folders,
owned by the user and owner-only (folders 0700, files 0600); the line's keys;
the units (:mod:`inspector.install.units`); then ``systemctl daemon-reload``
and ``enable --now`` when systemd runs this machine, else the commands are
said. With ``root`` everything goes into that folder instead (an image build, a
test): no user is made, nothing is given away, no ``systemctl`` is run.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from inspector.errors import ConfigError, InstallError
from inspector.install.layout import (
    CONFIG_DIR, HMI_ENV, LOG_DIR, STATE_ROOT, STATION_CONFIG, SYSUSERS_FILE, UNIT_DIR, hidden, installed_config,
    outside_appliance, read_paths, top_most, under_root, writable_folders,
)
from inspector.install.units import (
    HMI_ENV_TEXT, HMI_UNIT, STATION_UNIT, UnitUser, hmi_unit, station_unit, sysusers_conf,
)

OWNER_DIR = 0o700
PUBLIC_FILE = 0o644  # config, units: root's, readable (no secrets: those are in owner-only files they name)
NOLOGIN = "/usr/sbin/nologin"


@dataclass(frozen=True)
class InstallOptions:
    config: Path
    root: Path | None = None
    user: str = "inspector"
    groups: tuple[str, ...] = ()
    python: str = sys.executable
    hmi: bool = False  # enable the HMI's unit too (a panel PC); it is written in any case
    make_keys: bool = True
    dry_run: bool = False


def systemd_running() -> bool:
    """Whether systemd is this machine's init (what ``sd_booted()`` checks)."""
    return Path("/run/systemd/system").is_dir()


def start_commands(hmi: bool) -> list[list[str]]:
    units = [STATION_UNIT, *([HMI_UNIT] if hmi else [])]
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", *units]]


class Installer:
    def __init__(self, options: InstallOptions, say: Callable[[str], None]) -> None:
        self.o = options
        self.say = say
        self.root = options.root.resolve() if options.root else None
        self.owner: tuple[int, int] | None = None  # uid, gid the station's files go to (None under --root)

    def path(self, path) -> Path:
        return under_root(self.root, path)

    def _step(self, text: str, action: Callable[[], object] | None = None) -> None:
        self.say(f"{'would ' if self.o.dry_run else ''}{text}")
        if action is not None and not self.o.dry_run:
            action()

    def run(self) -> None:
        self._preflight()
        installed = installed_config(self.o.config, self.path(STATION_CONFIG), hmi_unit=self.o.hmi)
        for line in installed.moved:
            self.say(f"config: {line}")
        if self.root is None:
            self._check_read_paths(installed.config)
        user = self._user()
        config = installed.config

        self._write(SYSUSERS_FILE, sysusers_conf(user), PUBLIC_FILE)
        self._folder(CONFIG_DIR, 0o755, give=False)
        if installed.unchanged:
            self.say(f"config: {STATION_CONFIG} is the installed config, validated and kept as it is")
        else:
            self._write(STATION_CONFIG, installed.text, PUBLIC_FILE, keep_previous=True)
        if self.path(HMI_ENV).exists():
            self.say(f"keep {HMI_ENV} (the panel's display settings)")
        else:
            self._write(HMI_ENV, HMI_ENV_TEXT.format(user=user.name), PUBLIC_FILE)

        folders = [str(STATE_ROOT), *writable_folders(config, LOG_DIR)]
        for folder in folders:
            self._folder(folder, OWNER_DIR)
        if self.o.make_keys:
            self._keys(config.security.keys_dir)
        else:
            self.say(f"no keys now: the station makes its own at first start ({STATION_UNIT}'s ExecStartPre)")
        for folder in top_most(folders):
            target = self.path(folder)
            self._step(f"make everything in {target} owner-only (folders 0700, files 0600)"
                       + (f", owned by {user.name}" if self.owner else ""), lambda t=target: self._owner_only(t))

        self._write(UNIT_DIR / STATION_UNIT, station_unit(config, self.o.python, user), PUBLIC_FILE)
        self._write(UNIT_DIR / HMI_UNIT, hmi_unit(config, self.o.python, user), PUBLIC_FILE)
        self._start(user, config)

    # -- checks -----------------------------------------------------------------------------
    def _preflight(self) -> None:
        if self.root is None and os.geteuid() != 0 and not self.o.dry_run:
            raise InstallError("installing makes a user and writes /etc and /var: run it as root (sudo), "
                               "or with --root DIR to install into a folder (an image build)")
        if not self.o.python.startswith("/"):
            raise InstallError(f"--python {self.o.python}: give the interpreter's absolute path")
        if hidden(self.o.python):
            raise InstallError(f"--python {self.o.python} is in a home or temporary folder, which the services cannot "
                               "see (ProtectHome): install Inspector under /opt (docs/install.md)")
        if self.root is None and not os.access(self.o.python, os.X_OK):
            raise InstallError(f"--python {self.o.python} is not an executable")
        if self.root is None and self.o.python == sys.executable:  # an image has its own installation
            import inspector

            package = str(Path(inspector.__file__).resolve().parent)
            if hidden(package):
                raise InstallError(f"this Inspector is installed in {package}, a home or temporary folder the services "
                                   "cannot see (ProtectHome): install it under /opt (docs/install.md)")

    def _check_read_paths(self, config) -> None:
        for field, path in read_paths(config):
            if not os.path.exists(path):
                raise ConfigError(field, f"{path} does not exist; the installed station would not start")

    def _user(self) -> UnitUser:
        groups = self.o.groups
        if self.root is not None:
            self.say(f"user {self.o.user}: not made under --root; systemd-sysusers makes it at first boot from "
                     f"{SYSUSERS_FILE} (now, into the tree: systemd-sysusers --root {self.root})")
            self.say(f"nothing is given to {self.o.user} under --root: at first start the units' StateDirectory and "
                     f"LogsDirectory give it {STATE_ROOT} and {LOG_DIR}")
            return UnitUser(self.o.user, self.o.user, groups)
        missing = [g for g in groups if not _group_exists(g)]
        if missing:
            raise InstallError(f"--groups: no group {', '.join(missing)} on this machine")
        try:
            entry = pwd.getpwnam(self.o.user)
        except KeyError:
            command = ["useradd", "--system", "--user-group", "--home-dir", str(STATE_ROOT), "--no-create-home",
                       "--shell", NOLOGIN, "--comment", "Inspector station", self.o.user]
            self._step(f"make the system user {self.o.user} (no login shell): {shlex.join(command)}",
                       lambda: _run(command))
            if self.o.dry_run:
                return UnitUser(self.o.user, self.o.user, groups)
            entry = pwd.getpwnam(self.o.user)
        else:
            self.say(f"user {self.o.user} exists (uid {entry.pw_uid})")
        self.owner = (entry.pw_uid, entry.pw_gid)
        return UnitUser(self.o.user, grp.getgrgid(entry.pw_gid).gr_name, groups)

    # -- files and folders ------------------------------------------------------------------
    def _write(self, path, text: str, mode: int, keep_previous: bool = False) -> None:
        target = self.path(path)

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            if keep_previous and target.exists() and target.read_text() != text:
                shutil.copy2(target, target.with_name(target.name + ".previous"))
            tmp = target.with_name(f".{target.name}.new")
            tmp.write_text(text)
            os.chmod(tmp, mode)
            tmp.replace(target)

        self._step(f"write {target} ({mode:04o})", write)

    def _folder(self, folder, mode: int, give: bool = True) -> None:
        target = self.path(folder)

        def make() -> None:
            target.mkdir(parents=True, exist_ok=True)
            os.chmod(target, mode)
            if give and self.owner:
                os.chown(target, *self.owner)

        self._step(f"make {target} ({mode:04o})", make)

    def _keys(self, keys_dir: str) -> None:
        from inspector.line_keys import init_keys

        target = self.path(keys_dir)
        self._step(f"make the line's missing keys in {target} (as 'inspector keys init' does; existing ones are kept)",
                   lambda: self.say(f"  made: {', '.join(init_keys(target)) or 'none (all present)'}"))

    def _owner_only(self, top: Path) -> None:
        """Folders 0700, files without group or other bits, all owned by the station's user."""
        for here, dirs, files in os.walk(top):
            for name in (".", *dirs, *files):
                path = os.path.join(here, name)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    continue
                wanted = OWNER_DIR if stat.S_ISDIR(st.st_mode) else stat.S_IMODE(st.st_mode) & 0o700
                if stat.S_IMODE(st.st_mode) != wanted:
                    os.chmod(path, wanted)
                if self.owner and (st.st_uid, st.st_gid) != self.owner:
                    os.lchown(path, *self.owner)

    # -- systemd ---------------------------------------------------------------------------
    def _start(self, user: UnitUser, config) -> None:
        commands = start_commands(self.o.hmi)
        if self.root is None and systemd_running():
            for command in commands:
                self._step(f"run {shlex.join(command)}", lambda c=command: _run(c))
            self.say(f"an upgrade keeps the running station: systemctl restart {STATION_UNIT} to run this version")
        else:
            if self.root is not None:
                self.say(f"an image enables it offline: systemctl --root={self.root} enable {STATION_UNIT}"
                         + (f" {HMI_UNIT}" if self.o.hmi else ""))
            else:
                self.say("systemd does not run this machine (not PID 1): nothing started")
            self.say("start it on the station: " + " && ".join(shlex.join(c) for c in commands))
        if not self.o.hmi:
            self.say(f"the panel's HMI: edit {HMI_ENV}, then systemctl enable --now {HMI_UNIT}")
        own = outside_appliance(writable_folders(config, LOG_DIR))
        if own and self.root is not None:
            self.say(f"the plant's own folders must belong to {user.name} before the first start: {', '.join(own)}")


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise InstallError(f"{command[0]} is not on this machine") from err
    except subprocess.CalledProcessError as err:
        raise InstallError(f"{shlex.join(command)} failed: {(err.stderr or err.stdout).strip()[-500:]}") from err


def install(options: InstallOptions, say: Callable[[str], None]) -> None:
    """Install the station (see the module's documentation); raises InstallError or ConfigError, naming the problem."""
    Installer(options, say).run()

"""Who may read what the station writes: the station's user only, or also one configured group. The one place for it.

Records, stored part images, service logs, copies of model packages
(``<state_dir>/last-known-good``), keys and the station config a station
writes for its processes are created **owner-only**: files 0600, folders
0700. With ``station.file_group`` set (a quality team's group, the plant's
backup), they are **group-readable** instead: files 0640, folders 2750 given
to that group (the set-group-id bit makes what is created inside belong to
it too). Never readable by any other local user.

Modes are given when a file or folder is made, whatever the process's umask
(``inspector run`` from a login shell has 022), and a folder or log that an
older version left open is closed again when the station opens it.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import ConfigError

OWNER_ONLY = 0o600
OWNER_DIR = 0o700
GROUP_READ = 0o640
GROUP_DIR = 0o2750


@dataclass(frozen=True)
class FileModes:
    """The modes of what this process makes: ``gid`` is the configured group's, or None (owner-only)."""

    file: int = OWNER_ONLY
    folder: int = OWNER_DIR
    gid: int | None = None


_current = FileModes()


def use_station_group(group: str | None) -> FileModes:
    """Set what this station process makes from now on: owner-only (None), or readable by ``group`` as well.
    Called once when a service or the supervisor starts; ConfigError when the group does not exist."""
    global _current
    if group is None:
        _current = FileModes()
        return _current
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError("station.file_group", f"there is no group {group!r} on this machine") from None
    _current = FileModes(GROUP_READ, GROUP_DIR, gid)
    return _current


def current() -> FileModes:
    return _current


def owner_only(database: Path) -> None:
    """Make a SQLite database and its WAL files owner-only (SQLite gives new WAL files the database's mode)."""
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        if path.exists():
            os.chmod(path, OWNER_ONLY)


def _settle(fd_or_path: int | Path, is_folder: bool) -> None:
    """Give a file or folder of this user the station's mode and group (never more open than that)."""
    modes = _current
    wanted = modes.folder if is_folder else modes.file
    info = os.stat(fd_or_path)
    if info.st_uid != os.geteuid():
        return  # not ours to change (a shared parent, root's /etc)
    if modes.gid is not None and info.st_gid != modes.gid:
        os.chown(fd_or_path, -1, modes.gid)
    if stat.S_IMODE(info.st_mode) != wanted:
        os.chmod(fd_or_path, wanted)


def private_folder(folder: Path) -> Path:
    """Make ``folder`` (and the missing folders above it) with the station's folder mode; close it if it is open."""
    missing = []
    here = Path(folder)
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        _settle(path, is_folder=True)
    if not missing:
        _settle(Path(folder), is_folder=True)
    return Path(folder)


def create_private(path: Path, *, exclusive: bool = False, append: bool = False) -> int:
    """Open ``path`` for writing as a new file with the station's file mode (a file that exists is closed to that
    mode first); returns the descriptor. ``exclusive``: FileExistsError if it exists; ``append``: keep its content."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else 0)
    flags |= os.O_APPEND if append else os.O_TRUNC
    fd = os.open(path, flags, _current.file)
    try:
        _settle(fd, is_folder=False)
    except OSError:
        os.close(fd)
        raise
    return fd


def copy_private(source: Path, target: Path) -> None:
    """Copy ``source`` to a new ``target`` made with the station's file mode (never the source's mode)."""
    with open(source, "rb") as src, os.fdopen(create_private(Path(target)), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def write_private(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically, created with the station's file mode."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = create_private(temporary)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

"""Who holds an endpoint of this host, and taking an ipc:// socket file safely.

A bind that fails names who is in the way: for a TCP port, the sockets on it
from ``/proc/net/tcp`` and ``/proc/net/tcp6`` (their user id is always
there), and the processes holding them from ``/proc/*/fd`` (visible for the
station's own user's processes, all of them as root); for a Unix socket file,
``/proc/net/unix`` the same way, and the file's owner.

Before a service binds an ipc:// endpoint, :func:`claim_ipc_path` checks its
folder (owned by the station's user, or root; writable by no one else) and
the socket file: one that still accepts connections belongs to a running
process and is refused with that process named (ZeroMQ itself would silently
unlink it and take the name over); one nobody listens on is left from a
process that died and is removed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import pwd
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from inspector.errors import EndpointInUse
from inspector.netutil import port_in_use

log = logging.getLogger(__name__)

_TCP_LISTEN = "0A"
_TCP_TIME_WAIT = "06"
_UNIX_LISTENING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags
COMMAND_SHOWN = 120


@dataclass(frozen=True)
class Holder:
    """A process (or, when its pid is not visible to this user, a user) holding an endpoint."""

    uid: int | None
    pid: int | None = None
    command: str = ""

    def __str__(self) -> str:
        who = user_name(self.uid)
        if self.pid is None:
            return f"a process of {who}, whose pid this user cannot see (run 'ss -ltnpx' as root)"
        command = f" ({self.command})" if self.command else ""
        return f"pid {self.pid}{command} of {who}"


def user_name(uid: int | None) -> str:
    """'user NAME (uid N)', or 'uid N' for a uid without a name."""
    if uid is None:
        return "an unknown user"
    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def describe(holders: list[Holder]) -> str:
    """'held by pid 12 (...) of user x (uid 1000)', several joined; '' when none is known."""
    return "held by " + "; ".join(str(h) for h in holders) if holders else ""


def endpoint_holders(endpoint: str) -> list[Holder]:
    """Who holds a tcp:// or ipc:// endpoint of this host now (empty when nobody, or not found)."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "ipc":
        return unix_holders(Path(rest))
    if scheme == "tcp" and ":" in rest:
        host, _, port = rest.rpartition(":")
        try:
            return tcp_holders(host.strip("[]"), int(port))
        except ValueError:
            return []
    return []


def endpoint_in_use(endpoint: str) -> str:
    """Why a tcp:// or ipc:// endpoint of this host cannot be bound now, naming who holds it ('' when it can)."""
    if endpoint.startswith("ipc://"):
        return ipc_in_use(Path(endpoint[len("ipc://"):]))
    problem = port_in_use(endpoint)
    if not problem:
        return ""
    holders = describe(endpoint_holders(endpoint))
    return f"{problem}, {holders}" if holders else problem


# -- TCP -------------------------------------------------------------------------------------------

def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # the kernel prints each 32-bit word in host order (little-endian here)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def _same_place(holder: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> bool:
    """Whether a socket bound to ``holder`` keeps ``host`` from being bound on the same port."""
    if host in ("", "*", "0.0.0.0", "::") or holder.is_unspecified:
        return True
    mapped = getattr(holder, "ipv4_mapped", None)
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        try:
            wanted = ipaddress.ip_address(socket.gethostbyname(host))
        except OSError:
            return True  # a name we cannot resolve: the port alone decides
    return holder == wanted or mapped == wanted


class TcpSocket(NamedTuple):
    """One line of the kernel's TCP tables."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    listening: bool
    time_wait: bool
    uid: int
    inode: int


def tcp_sockets() -> list[TcpSocket]:
    """Every TCP socket of /proc/net/tcp and tcp6 (a table that cannot be read gives none)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            address, _, hex_port = fields[1].partition(":")
            found.append(TcpSocket(_address(address), int(hex_port, 16), fields[3] == _TCP_LISTEN,
                                   fields[3] == _TCP_TIME_WAIT, int(fields[7]), int(fields[9])))
    return found


def tcp_holders(host: str, port: int) -> list[Holder]:
    """The processes with a TCP socket on ``port`` that keeps ``host:port`` from being bound (listening first)."""
    found = [(s.listening, s.uid, s.inode) for s in tcp_sockets()
             if not s.time_wait and s.port == port and _same_place(s.address, host)]
    found.sort(key=lambda f: not f[0])
    return _holders([(uid, inode) for _, uid, inode in found if inode])


# -- Unix sockets ----------------------------------------------------------------------------------

def unix_holders(path: Path) -> list[Holder]:
    """The processes listening on the Unix socket file ``path``; its owner when none is visible."""
    inodes = []
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[7] == str(path) and int(fields[3], 16) & _UNIX_LISTENING:
            inodes.append((None, int(fields[6])))
    holders = _holders(inodes)
    if any(h.pid is not None for h in holders):
        return holders
    try:
        return [Holder(os.lstat(path).st_uid)]
    except OSError:
        return holders


# -- processes -------------------------------------------------------------------------------------

def _holders(sockets: list[tuple[int | None, int]]) -> list[Holder]:
    """(uid or None, socket inode) -> the processes holding each socket; a socket whose process is not
    visible to this user is named by its uid."""
    pids = _pids_holding({inode for _, inode in sockets})
    holders: list[Holder] = []
    for uid, inode in sockets:
        for pid in pids.get(inode, []):
            holder = Holder(_process_uid(pid, uid), pid, _command(pid))
            if holder not in holders:
                holders.append(holder)
        if not pids.get(inode) and uid is not None and Holder(uid) not in holders:
            holders.append(Holder(uid))
    return holders


def _pids_holding(inodes: set[int]) -> dict[int, list[int]]:
    """Socket inode -> the pids with a descriptor on it (those this user may look into)."""
    found: dict[int, list[int]] = {}
    if not inodes:
        return found
    try:
        processes = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return found
    for pid in processes:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # another user's process, or gone
            continue
        for fd in descriptors:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                found.setdefault(int(link[8:-1]), []).append(int(pid))
    return found


def _process_uid(pid: int, fallback: int | None) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return fallback


def _command(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    command = " ".join(" ".join(w.decode(errors="replace").split()) for w in words if w)  # one line of text
    return command if len(command) <= COMMAND_SHOWN else command[:COMMAND_SHOWN - 3] + "..."


# -- ipc:// ----------------------------------------------------------------------------------------

def ipc_in_use(path: Path) -> str:
    """Why the socket file ``path`` cannot be bound now: who listens on it ('' when nobody does)."""
    if not path.is_socket() or not _accepts_connections(path):
        return ""
    return describe(unix_holders(path)) or "held by a running process"


def claim_ipc_path(path: Path, *, private_folder: bool) -> None:
    """Make ``path`` free for a bind: its folder safe (made owner-only when ``private_folder``), a stale socket
    file removed. Raises :class:`EndpointInUse` naming the holder of a live socket, the owner of an unsafe folder,
    or what a non-socket file in the way is."""
    _safe_folder(path.parent, private_folder)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise EndpointInUse(f"ipc://{path}: cannot look at the socket file: {err.strerror}") from err
    if not stat.S_ISSOCK(st.st_mode):
        raise EndpointInUse(f"ipc://{path}: a file that is not a socket is in the way (owned by {user_name(st.st_uid)}); "
                            "it is left alone: remove it, or choose another endpoint")
    if _accepts_connections(path):
        holders = unix_holders(path)
        raise EndpointInUse(
            f"ipc://{path} is in use: {describe(holders) or 'held by a running process'}; another line of this station "
            "may still be running, or another program listens there: stop it", holders)
    try:
        path.unlink()
    except OSError as err:
        raise EndpointInUse(f"ipc://{path}: a socket file left by a process that died (owned by {user_name(st.st_uid)}) "
                            f"cannot be removed: {err.strerror}", [Holder(st.st_uid)]) from err
    log.info("removed the socket file %s, left by a process that no longer listens (owned by %s)", path, user_name(st.st_uid))


def _accepts_connections(path: Path) -> bool:
    """Whether a process listens on the socket file (a connection opens, and is closed at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:  # refused by its permissions, or its queue full: someone holds it
            return True
    return True


def _safe_folder(folder: Path, private: bool) -> None:
    """The folder of socket files: made if missing (0700); refused if another user could put or remove a socket
    there; made owner-only (0700) when ``private`` (the line's own folder)."""
    me = os.geteuid()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
    except OSError as err:
        raise EndpointInUse(f"the socket folder {folder} cannot be made: {err.strerror}") from err
    if not stat.S_ISDIR(st.st_mode):  # a symbolic link: its target's owner and mode are not the folder's to trust
        raise EndpointInUse(f"the socket folder {folder} is not a folder (a link or a file of {user_name(st.st_uid)}): "
                            "remove it, or set transport.ipc_dir to a folder of the station's user", [Holder(st.st_uid)])
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (me, 0) or (private and st.st_uid != me):
        raise EndpointInUse(
            f"the socket folder {folder} belongs to {user_name(st.st_uid)} (mode {mode:04o}), not to this station's "
            f"{user_name(me)}: another user could take or reach the line's endpoints there; remove it, or set "
            "transport.ipc_dir to a folder of the station's user", [Holder(st.st_uid)])
    if private:
        if mode & 0o077:
            os.chmod(folder, 0o700)
            log.warning("made the socket folder %s owner-only (0700; it was %04o)", folder, mode)
    elif mode & 0o022 and not mode & stat.S_ISVTX:
        raise EndpointInUse(f"the socket folder {folder} is writable by other users (mode {mode:04o}): another user "
                            "could take the line's endpoints there; make it 0700 or choose another folder")

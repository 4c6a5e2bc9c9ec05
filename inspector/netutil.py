"""Loopback port helpers for the demo and tests."""

from __future__ import annotations

import random
import socket

_FALLBACK_EPHEMERAL_START = 32768


def _ephemeral_start() -> int:
    """First port the kernel hands out for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_START


def free_tcp_ports(count: int) -> list[int]:
    """``count`` different free TCP ports on 127.0.0.1 (a line needs one per channel, never one twice)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_tcp_port()
        if port not in ports:
            ports.append(port)
    return ports


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, chosen below the ephemeral range.

    A port from the ephemeral range (what binding to port 0 returns) can be
    taken as the local port of any outgoing connection before the service
    that was given it binds; ports below that range are only ever bound on purpose.
    """
    high = max(_ephemeral_start() - 1, 10_001)
    for _ in range(200):
        port = random.randint(10_000, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free TCP port found on 127.0.0.1 below the ephemeral range")


def port_in_use(endpoint: str) -> str:
    """For a tcp:// endpoint on this host: why it cannot be bound now ('' when it can). Other endpoints: ''."""
    scheme, _, rest = endpoint.partition("://")
    if scheme != "tcp" or ":" not in rest:
        return ""
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if host in ("*", ""):
        host = "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds: TIME_WAIT does not count
        try:
            sock.bind((host, int(port)))
        except OSError as err:
            return err.strerror or str(err)
    return ""


def accepts_connections(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether something listens on host:port now (a TCP connection opens, and is closed at once)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False

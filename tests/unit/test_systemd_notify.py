"""The notify protocol spoken to a real AF_UNIX datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from inspector.systemd_notify import SystemdNotifier, socket_address


@pytest.fixture
def manager():
    """systemd's end: an abstract datagram socket (systemd's own NOTIFY_SOCKET is one on recent versions)."""
    name = f"inspector-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    yield "@" + name, sock
    sock.close()


def received(sock) -> list[str]:
    messages = []
    sock.settimeout(0.2)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        return messages


def test_without_a_notify_socket_every_call_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier.from_environment()
    assert not notifier.enabled and not notifier.watchdog_enabled
    assert not notifier.ready("up") and not notifier.watchdog() and not notifier.status("x") and not notifier.stopping()


def test_ready_status_watchdog_and_stopping_reach_an_abstract_socket(manager, monkeypatch):
    address, sock = manager
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    notifier = SystemdNotifier.from_environment()
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ, "children do not inherit them"
    assert notifier.watchdog_interval_s == 2.0, "pings at half the interval systemd allows"
    assert notifier.ready("line up:\n5 processes")
    assert notifier.watchdog(now=100.0)
    assert not notifier.watchdog(now=101.0), "not again before half the interval"
    assert notifier.watchdog(now=102.0)
    assert notifier.status("line up: 5 processes") is False, "an unchanged status is not sent again"
    assert notifier.status("down: detector:0")
    assert notifier.stopping("stopping")
    assert received(sock) == ["READY=1\nSTATUS=line up: 5 processes", "WATCHDOG=1", "WATCHDOG=1",
                              "STATUS=down: detector:0", "STOPPING=1\nSTATUS=stopping"]


def test_a_path_socket_and_a_watchdog_meant_for_another_process(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    notifier = SystemdNotifier.from_environment()
    assert not notifier.watchdog_enabled, "WATCHDOG_PID names another process: not ours to ping"
    assert notifier.ready() and not notifier.watchdog()
    assert received(sock) == ["READY=1"]
    sock.close()


def test_a_manager_that_went_away_costs_a_warning_not_an_error(tmp_path, caplog):
    notifier = SystemdNotifier(str(tmp_path / "gone"), watchdog_usec=1_000_000)
    assert not notifier.ready() and not notifier.watchdog(now=1.0) and not notifier.watchdog(now=2.0)
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1, "said once"


def test_socket_addresses():
    assert socket_address("@sd/notify") == "\0sd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("vsock:2:1234") is None

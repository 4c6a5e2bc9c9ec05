"""Ports for the demo and tests: free, and never from the range outgoing connections take."""

import socket

from inspector.netutil import _ephemeral_start, free_tcp_port


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound():
    for _ in range(20):
        port = free_tcp_port()
        assert 10_000 <= port < _ephemeral_start()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))

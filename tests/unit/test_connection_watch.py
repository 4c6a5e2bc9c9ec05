"""Refused and dropped connections leave one log line each in the binding process, however often they retry.

Real ZeroMQ sockets on loopback: the actuator's verdicts channel bound as the actuator does, with its CURVE keys.
A keyless client once left no trace at all; a 400 MiB message was dropped without a word.
"""

from __future__ import annotations

import logging
import time

import pytest
import zmq

from inspector.messages import Verdict
from inspector.transport import send_message
from tests.helpers import PeerSockets, wait_until

WATCH = "inspector.connection_watch"


def lines(caplog, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


@pytest.fixture
def verdicts_bound(line_config):
    """The actuator's end of the verdicts channel, and the test's peers (holding the station's keys)."""
    config = line_config()
    peers = PeerSockets(config)
    verdicts = peers.open("actuator", "verdicts")
    yield config, peers, verdicts
    peers.close()


def test_keyless_clients_retrying_for_seconds_leave_one_log_line(verdicts_bound, caplog):
    """One client without CURVE at all, one that does not know the actuator's key and retries twenty times a second."""
    config, peers, verdicts = verdicts_bound
    ctx = zmq.Context()
    keyless = ctx.socket(zmq.PUSH)  # ZeroMQ's NULL mechanism
    guessing = ctx.socket(zmq.PUSH)  # CURVE, with a made-up server key
    guessing.curve_publickey, guessing.curve_secretkey = zmq.curve_keypair()
    guessing.curve_serverkey = zmq.curve_keypair()[0]
    with caplog.at_level(logging.INFO, logger=WATCH):
        for sock in (keyless, guessing):
            sock.linger, sock.reconnect_ivl = 0, 50
            sock.connect(config.transport.endpoint("verdicts", config.station.state_dir))
            send_message(sock, Verdict("station-1", "top", 1, 1, "PASS", time.time(), time.time(), "v1"))
        wait_until(lambda: peers.ends["actuator"].refused_connections >= 10, 10, "the clients to retry")
        keyless.close()
        guessing.close()
        ctx.term()
    refused = lines(caplog, "refused a connection to channel 'verdicts'")
    assert len(refused) == 1, refused
    assert "its handshake failed" in refused[0] and "without the station's keys" in refused[0]
    assert not verdicts.poll(100), "nothing they sent arrived"


def test_a_client_with_an_unknown_curve_key_is_refused_by_name_once(verdicts_bound, caplog):
    config, peers, verdicts = verdicts_bound
    ctx = zmq.Context()
    stranger = ctx.socket(zmq.PUSH)
    stranger.linger = 0
    stranger.reconnect_ivl = 50
    public, secret = zmq.curve_keypair()
    stranger.curve_publickey, stranger.curve_secretkey = public, secret
    stranger.curve_serverkey = peers.ends["actuator"]._keys().public  # it knows the actuator's public key, not a service key
    with caplog.at_level(logging.INFO, logger=WATCH):
        stranger.connect(config.transport.endpoint("verdicts", config.station.state_dir))
        wait_until(lambda: peers.ends["actuator"].refused_connections >= 1, 10, "the stranger to be refused")
        time.sleep(0.5)
        stranger.close()
        ctx.term()
    refused = lines(caplog, "refused a connection to channel 'verdicts'")
    assert refused == [f"refused a connection to channel 'verdicts' from an unknown key {public.decode()[:12]}"]


def test_an_oversized_message_is_not_sent_by_the_line_and_dropped_with_a_line_by_the_receiver(verdicts_bound, caplog):
    config, peers, verdicts = verdicts_bound
    detector = peers.open("detector", "verdicts")
    limit = 4 * 1024 * 1024
    huge = Verdict("station-1", "top", 1, 1, "PASS", time.time(), time.time(), "v" * (limit + 10))
    with caplog.at_level(logging.INFO):
        assert send_message(detector, huge) is False, "not sent: the receiver would drop it, and the connection"
        sent = lines(caplog, "Verdict message of")
        assert sent == [f"Verdict message of {_encoded_size(huge)} bytes not sent: "
                        f"above the line's limit of {limit} bytes for a message part"]
        detector.send_multipart([b"verdict", b"x" * (limit + 1)])  # a key holder sending past its own check
        wait_until(lambda: lines(caplog, "a sender's connection ended"), 10, "the receiver to say it dropped one")
        assert send_message(detector, Verdict("station-1", "top", 2, 2, "PASS", time.time(), time.time(), "v1"), block=True)
        assert verdicts.poll(5000), "the sender reconnects and the next message arrives"
        assert b'"part_id":2' in verdicts.recv_multipart()[1]
    dropped = lines(caplog, "a sender's connection ended")
    assert dropped == [f"channel 'verdicts': a sender's connection ended: it stopped, or it sent a message part above "
                       f"the channel's limit of {limit} bytes, which ZeroMQ drops unread (that message is lost)"]


def _encoded_size(message) -> int:
    from inspector.messages import encode

    return max(len(part) for part in encode(message))

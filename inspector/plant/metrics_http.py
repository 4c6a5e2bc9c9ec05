"""The HTTP side of a metrics endpoint: where it listens, and who may read it.

Endpoints listen on loopback unless ``plant.metrics.host`` opens them to
other hosts. With ``username`` and ``password_file`` every request must carry
HTTP basic authentication (what a Prometheus scrape config's ``basic_auth``
sends); one without it, or with another password, gets ``401`` and nothing
else, and is logged (at most one line a minute per endpoint, with the count
of refusals since the last). prometheus_client serves metrics without any
authentication, so its WSGI application is served here behind the check.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from inspector.config.plant import MetricsConfig
from inspector.errors import ConfigError

log = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str

    def allows(self, header: str) -> bool:
        """Whether an ``Authorization`` header carries this user and password (compared in constant time)."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), self.username.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and ok_user and ok_password


def basic_auth(config: MetricsConfig) -> BasicAuth | None:
    """The configured credentials (the password read from its file), or None without authentication."""
    if not config.username or not config.password_file:
        return None
    try:
        password = Path(config.password_file).read_text().strip()
    except OSError as err:
        raise ConfigError("plant.metrics.password_file", f"cannot read {config.password_file}: {err.strerror}") from err
    if not password:
        raise ConfigError("plant.metrics.password_file", f"{config.password_file} holds no password")
    return BasicAuth(config.username, password)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RefusalLog:
    """One log line for the first refusal, then at most one a minute with the count since."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._unlogged = 0

    def refused(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._unlogged += 1
            if now - self._last < REFUSAL_LOG_INTERVAL_S:
                return
            count, self._unlogged, self._last = self._unlogged, 0, now
        log.warning("metrics of %s: refused %d request(s) without the right basic authentication (latest from %s)",
                    self.name, count, client)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - a scrape every few seconds is no news
        pass


def serve(registry: CollectorRegistry, name: str, host: str, port: int, auth: BasicAuth | None):
    """Serve ``registry`` on ``host:port`` in a daemon thread; returns (server, thread). OSError if it cannot listen."""
    metrics_app = make_wsgi_app(registry)
    refusals = _RefusalLog(name)

    def app(environ, start_response):
        if auth is not None and not auth.allows(environ.get("HTTP_AUTHORIZATION", "")):
            refusals.refused(environ.get("REMOTE_ADDR", "?"))
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="inspector metrics"'),
                                                ("Content-Type", "text/plain; charset=utf-8")])
            return [b"authentication required\n"]
        return metrics_app(environ, start_response)

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
    server = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"metrics-{name}", daemon=True)
    thread.start()
    if auth is None and not is_loopback(host):
        log.warning("metrics of %s listen on %s:%d without authentication: any host that reaches the port reads "
                    "them (set plant.metrics.username and password_file)", name, host, port)
    return server, thread

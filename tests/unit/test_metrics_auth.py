"""Metrics endpoints: loopback by default; opened to other hosts, basic authentication keeps them to Prometheus.

Real HTTP on loopback against a real endpoint (``inspector.plant.metrics.serve_metrics``), as Prometheus scrapes it.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import urllib.error
import urllib.request

import pytest

from inspector.config import DEFAULT_CONFIG, load_config
from inspector.netutil import free_tcp_port
from inspector.plant.metrics import serve_metrics
from tests.unit.test_config import default_data, load_data, rejected_field


def get(port: int, credentials: tuple[str, str] | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def metrics_config(tmp_path, **metrics):
    config = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(config, plant=dataclasses.replace(
        config.plant, metrics=dataclasses.replace(config.plant.metrics, enabled=True, **metrics)))


def test_endpoints_listen_on_loopback_by_default(tmp_path):
    config = metrics_config(tmp_path)
    assert config.plant.metrics.host == "127.0.0.1" and config.plant.metrics.username is None
    endpoint = serve_metrics(config, "recorder", free_tcp_port(), lambda: {"parts": 3})
    try:
        assert endpoint._server.server_address[0] == "127.0.0.1"
        status, body, _ = get(endpoint._server.server_address[1])
        assert status == 200 and "inspector_service_events_total" in body
    finally:
        endpoint.close()


def test_with_basic_auth_a_request_without_the_password_is_refused_and_logged_once(tmp_path, caplog):
    secret = tmp_path / "metrics.password"
    secret.write_text("correct horse\n")
    secret.chmod(0o600)
    config = metrics_config(tmp_path, host="0.0.0.0", username="prometheus", password_file=str(secret))
    port = free_tcp_port()
    with caplog.at_level(logging.WARNING, logger="inspector.plant.metrics_http"):
        endpoint = serve_metrics(config, "recorder", port, lambda: {"parts": 3})
        try:
            refused = [get(port), get(port, ("prometheus", "wrong")), get(port, ("someone", "correct horse"))]
            allowed = get(port, ("prometheus", "correct horse"))
        finally:
            endpoint.close()
    for status, body, headers in refused:
        assert status == 401 and "inspector_" not in body
        assert headers["WWW-Authenticate"] == 'Basic realm="inspector metrics"'
    assert allowed[0] == 200 and "inspector_service_events_total" in allowed[1]
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines == ["metrics of recorder: refused 1 request(s) without the right basic authentication (latest from 127.0.0.1)"], \
        "the first refusal is logged; the next ones within a minute are counted, not logged"
    assert not any("without authentication" in r.getMessage() for r in caplog.records)


def test_an_endpoint_opened_without_authentication_says_so(tmp_path, caplog):
    config = metrics_config(tmp_path, host="0.0.0.0")
    with caplog.at_level(logging.WARNING, logger="inspector.plant.metrics_http"):
        endpoint = serve_metrics(config, "actuator", free_tcp_port(), lambda: {})
        endpoint.close()
    assert any("listen on 0.0.0.0" in r.getMessage() and "without authentication" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("metrics, field", [({"username": "prometheus"}, "plant.metrics.password_file"),
                                            ({"password_file": "pw"}, "plant.metrics.username")])
def test_basic_auth_needs_both_a_user_and_a_password_file(tmp_path, metrics, field):
    data = default_data()
    data["plant"]["metrics"].update(metrics)
    err = rejected_field(tmp_path, data)
    assert err.field == field and "needs both 'username' and 'password_file'" in str(err)


def test_the_password_file_is_found_beside_the_config(tmp_path):
    data = default_data()
    data["plant"]["metrics"].update({"username": "prometheus", "password_file": "metrics.password"})
    config = load_data(tmp_path, data)
    assert config.plant.metrics.password_file == str(tmp_path / "metrics.password")

"""Reports and OPC UA beside the line: off by default, supervised when on, their commands refuse bad set-ups clearly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography import x509

from inspector.cli import main
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.opcua.certs import CLIENT_URI, client_paths, server_paths, trusted_dir
from inspector.supervisor import line_processes


def station_file(tmp_path: Path) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(f"cameras: [{{name: top}}]\ndetector: {{model: m.onnx}}\nstation: {{state_dir: {tmp_path / 'state'}}}\n"
                    f"recorder: {{database: {tmp_path / 'inspector.db'}}}\n")
    return path


def test_default_station_runs_neither_and_enabled_ones_are_supervised(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG)
    names = [p.name for p in line_processes(config, DEFAULT_CONFIG)]
    assert "shift-reports" not in names and "opcua" not in names  # `make demo` needs nothing else running
    config = dataclasses.replace(config, reports=dataclasses.replace(config.reports, at_shift_end=True),
                                 opcua=dataclasses.replace(config.opcua, enabled=True))
    procs = {p.name: p for p in line_processes(config, Path("station.yaml"))}
    assert procs["shift-reports"].command[-4:] == ["report", "scheduler", "--config", "station.yaml"]
    assert procs["opcua"].command[-4:] == ["opcua", "serve", "--config", "station.yaml"]
    assert not procs["opcua"].sends_heartbeats and not procs["shift-reports"].sends_heartbeats


def test_opcua_certs_command_and_serve_without_certificates(tmp_path: Path, capsys) -> None:
    config_path = station_file(tmp_path)
    assert main(["opcua", "serve", "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "certificate is missing" in err and "inspector opcua certs --config" in err
    assert main(["opcua", "certs", "--config", str(config_path), "--client", "mes"]) == 0
    folder = Path(load_config(config_path).opcua.folder)
    assert folder == tmp_path / "state" / "opcua"
    cert = x509.load_der_x509_certificate(client_paths(folder, "mes").cert.read_bytes())
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == [CLIENT_URI.format(name="mes")]
    assert (trusted_dir(folder) / "mes-cert.der").read_bytes() == client_paths(folder, "mes").cert.read_bytes()
    assert server_paths(folder).key.stat().st_mode & 0o077 == 0  # the private key is the owner's only
    before = server_paths(folder).cert.read_bytes()
    assert main(["opcua", "certs", "--config", str(config_path), "--client", "mes"]) == 0
    assert server_paths(folder).cert.read_bytes() == before  # never overwritten
    assert "none (all present)" in capsys.readouterr().out
    not_a_cert = tmp_path / "x.pem"
    not_a_cert.write_text("hello")
    assert main(["opcua", "trust", str(not_a_cert), "--config", str(config_path)]) == 2
    assert "is not a readable X.509 certificate" in capsys.readouterr().err

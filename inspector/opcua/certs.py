"""Certificates for the OPC UA server and its clients (RSA 2048, SHA-256, self-signed; ``cryptography``).

Layout of ``opcua.folder``:

``server-cert.der``, ``server-key.pem``   the server's application instance certificate and key (owner-only)
``trusted/*.der``                          client certificates the server accepts
``clients/<name>-cert.der`` and ``-key.pem``  client certificates made here for the plant's clients

A client made elsewhere is trusted by copying its DER or PEM certificate into
``trusted/`` (``inspector opcua trust FILE``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from inspector.config.schema import Config
from inspector.errors import OpcUaError
from inspector.file_modes import owner_only

SERVER_URI = "urn:inspector:{station}:opcua-server"
CLIENT_URI = "urn:inspector:opcua-client:{name}"
VALID_DAYS = 10 * 365


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path


def server_paths(folder: Path) -> CertPaths:
    return CertPaths(folder / "server-cert.der", folder / "server-key.pem")


def client_paths(folder: Path, name: str) -> CertPaths:
    return CertPaths(folder / "clients" / f"{name}-cert.der", folder / "clients" / f"{name}-key.pem")


def trusted_dir(folder: Path) -> Path:
    return folder / "trusted"


def make_certificate(paths: CertPaths, common_name: str, uri: str, server: bool, hosts: list[str]) -> None:
    """A self-signed application instance certificate as OPC UA wants it (URI in subjectAltName, key usages)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Inspector")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True, data_encipherment=True,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths.cert.parent.mkdir(parents=True, exist_ok=True)
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    owner_only(paths.key)
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.DER))


def endpoint_host(config: Config) -> str:
    return urlparse(config.opcua.endpoint).hostname or "127.0.0.1"


def init_certs(config: Config, client: str | None = "scada") -> list[Path]:
    """Make the server's certificate if it is missing, and a trusted client certificate named ``client``; never overwrite."""
    folder = Path(config.opcua.folder)
    made = []
    server = server_paths(folder)
    if not server.cert.exists():
        hosts = sorted({endpoint_host(config), "localhost", socket.gethostname()})
        make_certificate(server, f"Inspector {config.station.name}", SERVER_URI.format(station=config.station.name), True, hosts)
        made.append(server.cert)
    trusted_dir(folder).mkdir(parents=True, exist_ok=True)
    if client:
        if not all(c.isalnum() or c in "-_" for c in client):
            raise OpcUaError(f"client name {client!r}: use letters, digits, '-' and '_' only")
        paths = client_paths(folder, client)
        if not paths.cert.exists():
            make_certificate(paths, f"{client} (OPC UA client of {config.station.name})", CLIENT_URI.format(name=client), False,
                             [socket.gethostname()])
            made.append(paths.cert)
        shutil.copyfile(paths.cert, trusted_dir(folder) / paths.cert.name)
    return made


def trust(config: Config, certificate: Path) -> Path:
    """Accept a client certificate made elsewhere (DER or PEM)."""
    try:
        data = certificate.read_bytes()
        cert = x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_certificate(data)
    except (OSError, ValueError) as err:
        raise OpcUaError(f"{certificate} is not a readable X.509 certificate: {err}") from err
    target = trusted_dir(Path(config.opcua.folder)) / (certificate.stem + ".der")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return target

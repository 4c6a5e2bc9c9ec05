"""Signed model packages: Ed25519 signatures over the ONNX file and its metadata.

A package is ``model.onnx`` + ``model.json``; its signature is
``model.sig.json`` beside them::

    {"format": "inspector-model-signature/1",
     "signer": "quality@plant-3",                 # who signed (free text)
     "key_id": "3f9a...",                         # first 16 hex of sha256(public key)
     "signed": {"onnx_sha256": "...", "metadata_sha256": "...", "signed_at": 1764400000.0},
     "signature": "<base64 Ed25519 signature of the canonical JSON of 'signed'>"}

The metadata is covered byte for byte, so a changed threshold or score
normalisation breaks the signature as surely as a changed weight. A station
trusts the public keys listed in its config (``detector.trusted_keys``); the
private key is needed only where packages are signed (``inspector model
sign``), never on the station. ``inspector model keygen`` makes a key pair,
the private half readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from inspector.engine.model_package import metadata_path, sha256_of
from inspector.errors import ModelError

FORMAT = "inspector-model-signature/1"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    except ImportError as err:  # a base dependency; only a broken install lacks it
        raise ModelError("model signatures need the 'cryptography' package (pip install cryptography)") from err
    return InvalidSignature, serialization, Ed25519PrivateKey, Ed25519PublicKey


def signature_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".sig.json")


def _canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    path: Path
    public_key: object  # Ed25519PublicKey


@dataclass(frozen=True)
class SignatureCheck:
    """A package whose signature verified: who signed it, with which key, when."""

    signer: str
    key_id: str
    key_path: Path
    signed_at: float


def generate_key_pair(out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.private.pem`` (owner-only) and ``<name>.public.pem``; refuse to overwrite."""
    _, serialization, Ed25519PrivateKey, _ = _crypto()
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / f"{name}.private.pem", out_dir / f"{name}.public.pem"
    for path in (private_path, public_path):
        if path.exists():
            raise ModelError(f"{path} exists already: choose another name or folder (a key is never overwritten)")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_path.write_bytes(public)
    return private_path, public_path


def _public_raw(public_key) -> bytes:
    _, serialization, _, _ = _crypto()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(path: Path) -> TrustedKey:
    _, serialization, _, Ed25519PublicKey = _crypto()
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as err:
        raise ModelError(f"trusted key {path} cannot be read: {err.strerror}") from err
    except ValueError as err:
        raise ModelError(f"trusted key {path} is not a PEM public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise ModelError(f"trusted key {path} is not an Ed25519 key")
    return TrustedKey(key_id(_public_raw(key)), path, key)


def load_trusted_keys(paths: list[str]) -> dict[str, TrustedKey]:
    """Every ``*.pem`` public key of the listed files and folders, by key id."""
    keys: dict[str, TrustedKey] = {}
    for entry in paths:
        path = Path(entry)
        files = sorted(path.glob("*.public.pem")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise ModelError(f"no public key (*.public.pem) in the trusted-key folder {path}")
        for file in files:
            trusted = load_public_key(file)
            keys[trusted.key_id] = trusted
    return keys


def sign_package(onnx_path: Path, private_key_path: Path, signer: str) -> Path:
    """Sign ``onnx_path`` and its metadata; write and return ``model.sig.json``."""
    _, serialization, Ed25519PrivateKey, _ = _crypto()
    try:
        key = serialization.load_pem_private_key(private_key_path.read_bytes(), password=None)
    except OSError as err:
        raise ModelError(f"signing key {private_key_path} cannot be read: {err.strerror}") from err
    except (ValueError, TypeError) as err:
        raise ModelError(f"signing key {private_key_path} is not an unencrypted PEM private key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ModelError(f"signing key {private_key_path} is not an Ed25519 key")
    meta_path = metadata_path(onnx_path)
    for path in (onnx_path, meta_path):
        if not path.is_file():
            raise ModelError(f"cannot sign {onnx_path}: {path} does not exist")
    signed = {"onnx_sha256": sha256_of(onnx_path), "metadata_sha256": sha256_of(meta_path), "signed_at": round(time.time(), 3)}
    document = {
        "format": FORMAT,
        "signer": signer,
        "key_id": key_id(_public_raw(key.public_key())),
        "signed": signed,
        "signature": base64.b64encode(key.sign(_canonical(signed))).decode(),
    }
    out = signature_path(onnx_path)
    out.write_text(json.dumps(document, indent=2) + "\n")
    return out


def verify_package(onnx_path: Path, trusted: dict[str, TrustedKey]) -> SignatureCheck:
    """Check the package's signature against ``trusted`` keys; :class:`ModelError` says exactly what is wrong."""
    InvalidSignature, _, _, _ = _crypto()
    sig_path = signature_path(onnx_path)
    if not sig_path.is_file():
        raise ModelError(f"model {onnx_path} is not signed (no {sig_path.name}); sign it with 'inspector model sign'")
    try:
        document = json.loads(sig_path.read_text())
        signed, signature = document["signed"], base64.b64decode(document["signature"], validate=True)
        signer, kid = str(document["signer"]), str(document["key_id"])
        if document.get("format") != FORMAT or not isinstance(signed, dict):
            raise ValueError(f"format {document.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"signature {sig_path} is unreadable or malformed: {err}") from err
    key = trusted.get(kid)
    if key is None:
        raise ModelError(
            f"model {onnx_path} is signed by {signer!r} with key {kid}, which this station does not trust "
            f"(detector.trusted_keys lists {', '.join(sorted(trusted)) or 'no key'})"
        )
    try:
        key.public_key.verify(signature, _canonical(signed))
    except InvalidSignature as err:
        raise ModelError(f"the signature of {onnx_path} does not verify with key {kid}: the signature file was altered") from err
    if sha256_of(onnx_path) != signed.get("onnx_sha256"):
        raise ModelError(f"model file {onnx_path} changed after it was signed by {signer!r}")
    if sha256_of(metadata_path(onnx_path)) != signed.get("metadata_sha256"):
        raise ModelError(f"model metadata {metadata_path(onnx_path)} changed after it was signed by {signer!r}")
    return SignatureCheck(signer, kid, key.path, float(signed.get("signed_at", 0.0)))

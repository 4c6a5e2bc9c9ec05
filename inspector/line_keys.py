"""The station's CURVE key pairs: one per service of the line, made once at install.

``inspector keys init --config station.yaml`` writes, into
``security.keys_dir`` (default ``<station.state_dir>/keys``), a ZeroMQ
certificate pair per identity: ``<identity>.key`` (public) and
``<identity>.key_secret`` (public and secret, readable by the station's user
only). Existing keys are never overwritten; ``init`` only adds missing ones.
The channel table (:mod:`inspector.channels`) says which identity may
connect to which channel.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import ConfigError, MessageError
from inspector.service_registry import IDENTITIES, OPTIONAL_IDENTITIES

# the identities come from the registry of the station's processes; the optional ones are needed only while their
# process runs (the publisher: plant.mqtt.enabled): a station installed before they existed runs without their keys
# until 'inspector keys init' adds them


@dataclass(frozen=True)
class KeyPair:
    public: bytes
    secret: bytes


def _auth():
    import zmq
    import zmq.auth

    if not zmq.has("curve"):
        raise MessageError("this ZeroMQ build has no CURVE security; install pyzmq with its bundled libzmq")
    return zmq.auth


def keys_dir_of(keys_dir: Path | None) -> Path:
    if keys_dir is None:
        raise ConfigError("security.keys_dir", "no folder for the station's keys is configured")
    return keys_dir


def init_keys(keys_dir: Path) -> list[str]:
    """Make every missing key pair in ``keys_dir`` (owner-only); return the identities made."""
    auth = _auth()
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    made = []
    for identity in IDENTITIES:
        public, secret = keys_dir / f"{identity}.key", keys_dir / f"{identity}.key_secret"
        if public.exists() and secret.exists():
            continue
        old = os.umask(0o077)
        try:
            auth.create_certificates(str(keys_dir), identity)
        finally:
            os.umask(old)
        os.chmod(secret, stat.S_IRUSR | stat.S_IWUSR)
        made.append(identity)
    return made


def _certificate(keys_dir: Path | None, identity: str, suffix: str, what: str) -> tuple[bytes, bytes | None]:
    path = keys_dir_of(keys_dir) / f"{identity}.{suffix}"
    try:
        return _auth().load_certificate(str(path))
    except (OSError, ValueError) as err:
        raise MessageError(
            f"the {identity} {what} {path} cannot be read ({err}); make the station's keys with "
            "'inspector keys init --config STATION.yaml'"
        ) from err


def load_key_pair(keys_dir: Path | None, identity: str) -> KeyPair:
    public, secret = _certificate(keys_dir, identity, "key_secret", "key pair")
    if secret is None:
        raise MessageError(f"the {identity} key pair in {keys_dir} holds no secret key")
    return KeyPair(public, secret)


def public_key(keys_dir: Path | None, identity: str) -> bytes:
    return _certificate(keys_dir, identity, "key", "public key")[0]


def has_keys(keys_dir: Path, identity: str) -> bool:
    return (keys_dir / f"{identity}.key_secret").exists() and (keys_dir / f"{identity}.key").exists()


def missing_keys(keys_dir: Path, needed: tuple[str, ...] = ()) -> list[str]:
    """Key pairs missing in ``keys_dir``: every required identity's, and those of ``needed`` optional ones."""
    wanted = [i for i in IDENTITIES if i not in OPTIONAL_IDENTITIES or i in needed]
    return [i for i in wanted if not has_keys(keys_dir, i)]

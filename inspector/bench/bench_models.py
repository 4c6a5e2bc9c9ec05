"""Model packages a benchmark installs in its own station's registry: the station's model, and signed copies.

A copy is the station's model with another version (and any metadata changes),
signed by a throwaway key made in the bench's own folder; the bench station
trusts that key beside the keys the station already trusts. Nothing outside
the bench folder is touched.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from inspector.config.schema import Config
from inspector.engine.model_package import sha256_of
from inspector.model_signing import generate_key_pair, sign_package

KEY_NAME = "bench"
SIGNER = "bench@inspector"


def bench_signing_key(folder: Path) -> tuple[Path, Path]:
    """The bench's throwaway key pair (private, public) in ``folder``, made on first use."""
    private, public = folder / f"{KEY_NAME}.private.pem", folder / f"{KEY_NAME}.public.pem"
    if private.is_file() and public.is_file():
        return private, public
    return generate_key_pair(folder, KEY_NAME)


def trusting_bench_key(config: Config, folder: Path) -> Config:
    """``config`` whose detector also trusts the bench's throwaway key."""
    _, public = bench_signing_key(folder / "signing-key")
    if str(public) in config.detector.trusted_keys:
        return config
    return dataclasses.replace(config, detector=dataclasses.replace(config.detector, trusted_keys=[*config.detector.trusted_keys, str(public)]))


def signed_copy(config: Config, folder: Path, version: str, **meta_changes) -> Path:
    """The station's model under another ``version`` (and ``meta_changes``), signed by the bench key; its ONNX path."""
    source = Path(config.detector.model)
    target = folder / "packages" / version
    target.mkdir(parents=True, exist_ok=True)
    onnx = target / "model.onnx"
    shutil.copyfile(source, onnx)
    meta = json.loads(source.with_suffix(".json").read_text())
    meta.update(version=version, onnx_sha256=sha256_of(onnx), **meta_changes)
    (target / "model.json").write_text(json.dumps(meta, indent=2))
    private, _ = bench_signing_key(folder / "signing-key")
    sign_package(onnx, private, SIGNER)
    return onnx

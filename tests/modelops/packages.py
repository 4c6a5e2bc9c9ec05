"""Model packages for the registry tests: the bundled model, and copies of it signed by a test key."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from inspector.config.schema import Config
from inspector.engine.model_package import sha256_of
from inspector.model_signing import generate_key_pair, sign_package


def bundled_model(config: Config) -> Path:
    return Path(config.detector.model)


def signing_key(tmp_path: Path) -> tuple[Path, Path]:
    """A signing key pair of the test's own (private, public)."""
    folder = tmp_path / "signing-keys"
    if (folder / "quality.private.pem").is_file():
        return folder / "quality.private.pem", folder / "quality.public.pem"
    return generate_key_pair(folder, "quality")


def trusting_test_key(config: Config, tmp_path: Path) -> Config:
    """The station trusts the project's release key and the test's key."""
    _, public = signing_key(tmp_path)
    detector = dataclasses.replace(config.detector, trusted_keys=[*config.detector.trusted_keys, str(public)])
    return dataclasses.replace(config, detector=detector)


def nan_onnx(source: Path, target: Path) -> None:
    """The model with its output multiplied by NaN: it loads and runs, and every score it gives is not a number."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    out = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{o}_raw" if o == out else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array([np.nan], np.float32), "nan_factor"))
    graph.node.append(helper.make_node("Mul", [f"{out}_raw", "nan_factor"], [out]))
    onnx.save(model, str(target))


def variant(config: Config, tmp_path: Path, version: str, *, sign: bool = True, broken_onnx: bool = False,
            nan_outputs: bool = False, **meta_changes) -> Path:
    """A copy of the bundled model with another version (and ``meta_changes``), signed by the test key.

    ``broken_onnx``: the ONNX file is not a model at all (its sha256 recorded in the metadata and signed, so only
    loading it shows the problem). ``nan_outputs``: a model that loads and runs but scores nothing as a number."""
    source = bundled_model(config)
    folder = tmp_path / "packages" / version
    folder.mkdir(parents=True)
    onnx = folder / "model.onnx"
    if broken_onnx:
        onnx.write_bytes(b"this is not an ONNX model" * 100)
    elif nan_outputs:
        nan_onnx(source, onnx)
    else:
        shutil.copyfile(source, onnx)
    meta = json.loads(source.with_suffix(".json").read_text())
    meta.update(version=version, onnx_sha256=sha256_of(onnx), **meta_changes)
    (folder / "model.json").write_text(json.dumps(meta, indent=2))
    if sign:
        private, _ = signing_key(tmp_path)
        sign_package(onnx, private, "quality@test")
    return onnx

"""The ``opcua`` section of the station config: the OPC UA server for the plant's SCADA/MES and its recipes."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


@dataclass(frozen=True)
class OpcUaConfig:
    enabled: bool = spec(False, doc="Run the OPC UA server (OPC 40100 Machine Vision) beside the line ('inspector run' starts it).")
    endpoint: str = spec("opc.tcp://127.0.0.1:4840/inspector/", doc="Endpoint URL the server listens on.")
    folder: str | None = spec(
        None, doc="Server certificate, private key and trusted client certificates ('inspector opcua certs'); None = 'opcua' in station.state_dir."
    )
    allow_anonymous: bool = spec(False, doc="Also accept clients without a certificate, unencrypted (off: Basic256Sha256 SignAndEncrypt with a trusted client certificate only).")
    recipes: dict[str, str] = spec(
        factory=dict,
        doc="Models a client may select by name: name -> a registry package (name@version or package id) or a model .onnx file "
        "installed in the registry; the detector's 'model' is always offered under its folder name. A selection promotes the package "
        "(gated or formerly production ones only) and the detector swaps to it between parts (docs/opcua.md).",
    )

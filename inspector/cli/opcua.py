"""``inspector opcua``: certificates, trusting a client, running the server alone."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = ("opcua",)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    opcua = sub.add_parser("opcua", help="the OPC UA server (OPC 40100 Machine Vision): certificates, serve")
    opcua_sub = opcua.add_subparsers(dest="opcua_command", required=True)
    certs = opcua_sub.add_parser("certs", help="make the server's certificate and a trusted client certificate (never overwrites)")
    certs.add_argument("--config", type=Path, required=True, help="station config (YAML): its opcua.folder")
    certs.add_argument("--client", default="scada", help="name of the client certificate to make (default: scada)")
    trust = opcua_sub.add_parser("trust", help="accept a client certificate made elsewhere (DER or PEM)")
    trust.add_argument("certificate", type=Path)
    trust.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    serve = opcua_sub.add_parser("serve", help="run the server beside a running line ('inspector run' does with opcua.enabled)")
    serve.add_argument("--config", type=Path, required=True, help="station config (YAML)")


def run(args: argparse.Namespace) -> int:
    from inspector.config import load_config

    config = load_config(args.config)
    if args.opcua_command == "certs":
        from inspector.opcua.certs import client_paths, init_certs, server_paths

        made = init_certs(config, args.client)
        folder = Path(config.opcua.folder)
        print(f"OPC UA certificates in {folder}: made {', '.join(p.name for p in made) if made else 'none (all present)'}")
        print(f"  server certificate  {server_paths(folder).cert}")
        print(f"  client '{args.client}'        {client_paths(folder, args.client).cert} (+ key; trusted by the server)")
        return 0
    if args.opcua_command == "trust":
        from inspector.opcua.certs import trust

        print(f"trusted: {trust(config, args.certificate)} (restart the OPC UA server to accept it)")
        return 0
    from inspector.opcua.server import run_server

    run_server(config)
    return 0

"""``inspector model list|install|show|promote|rollback``: the station's model registry (see :mod:`inspector.modelops.registry`)."""

from __future__ import annotations

import argparse
import getpass
import json
import time
from dataclasses import asdict
from pathlib import Path

COMMANDS = ("list", "install", "show", "promote", "rollback")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def add_registry_commands(model_sub: argparse._SubParsersAction) -> None:
    def station(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, required=True, help="station config (YAML): its registry and trusted keys")
        return p

    def who(p: argparse.ArgumentParser) -> None:
        p.add_argument("--user", default=getpass.getuser(), help="who does this, as the audit trail records it (default: you)")

    station(model_sub.add_parser("list", help="installed packages and what each model slot runs"))
    install = station(model_sub.add_parser("install", help="keep a signed package in the station's registry (unsigned: refused)"))
    install.add_argument("package", type=Path, help="the package's ONNX file (model.json and model.sig.json beside it)")
    who(install)
    show = station(model_sub.add_parser("show", help="one installed package's record"))
    show.add_argument("package", help="package id (or a unique prefix) or name@version")
    promote = station(model_sub.add_parser(
        "promote", help="make an installed package a slot's production model; a running detector swaps to it between parts"))
    promote.add_argument("package", help="package id (or a unique prefix) or name@version")
    promote.add_argument("--slot", default="primary", help="model slot: primary (default) or additional-N")
    promote.add_argument("--reason", default="", help="why, for the audit trail")
    who(promote)
    rollback = station(model_sub.add_parser("rollback", help="return a slot to its last-known-good model"))
    rollback.add_argument("--slot", default="primary", help="model slot: primary (default) or additional-N")
    rollback.add_argument("--reason", required=True, help="why, for the audit trail")
    who(rollback)


def run_registry(args: argparse.Namespace) -> int:
    from inspector.config import load_config
    from inspector.modelops.registry import ModelRegistry

    with ModelRegistry(load_config(args.config)) as registry:
        command = args.model_command
        if command == "install":
            package, new = registry.install(args.package, args.user)
            print(f"{'installed' if new else 'already installed'}: {package.label} ({package.family}) as {package.short_id}, "
                  f"signed by {package.signer!r} with key {package.key_id}")
            return 0
        if command == "show":
            package = registry.find(args.package)
            print(json.dumps(asdict(package), indent=2))
            return 0
        if command == "promote":
            package = registry.promote(args.package, args.user, args.slot, args.reason)
            print(f"slot {args.slot}: {package.label} ({package.short_id}) is production; a running detector swaps to it between parts")
            return 0
        if command == "rollback":
            label = registry.rollback(args.user, args.slot, args.reason)
            print(f"slot {args.slot}: rolled back to {label}")
            return 0
        slots = registry.describe_slots()
        print("slot           production                       last-known-good                  promoted")
        for s in slots:
            print(f"{s['slot']:<14} {s['label']:<32} {s['last_known_good'] or '-':<32} {_when(s['promoted_at'])} {s['promoted_by']}")
        running = {s["package"] for s in slots}
        print()
        print("id            label                            family        signer           installed")
        for p in registry.packages():
            mark = "*" if p.package_id in running else " "
            print(f"{p.short_id}{mark} {p.label:<32} {p.family:<13} {p.signer[:16]:<16} {_when(p.installed_at)} {p.installed_by}")
        return 0

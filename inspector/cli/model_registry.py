"""``inspector model list|install|show|promote|rollback``: the station's model registry (see :mod:`inspector.modelops.registry`)."""

from __future__ import annotations

import argparse
import getpass
import json
import time
from dataclasses import asdict
from pathlib import Path

COMMANDS = ("list", "install", "show", "promote", "rollback", "gate", "shadow", "triage")


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
    promote.add_argument("--reason", default="", help="why, for the audit trail (required with --force)")
    promote.add_argument("--force", action="store_true",
                         help="promote without a passing gate (models.require_gate); needs --reason, audited as forced")
    who(promote)
    rollback = station(model_sub.add_parser("rollback", help="return a slot to its last-known-good model"))
    rollback.add_argument("--slot", default="primary", help="model slot: primary (default) or additional-N")
    rollback.add_argument("--reason", required=True, help="why, for the audit trail")
    rollback.add_argument("--to", default="", metavar="PACKAGE",
                          help="an installed package (name@version or id) to go back to instead of the last-known-good: "
                          "an older release is run only through an audited rollback")
    who(rollback)
    gate = station(model_sub.add_parser(
        "gate", help="run a candidate and the slot's production model on the golden set; promote needs a passing gate"))
    gate.add_argument("package", help="the installed candidate: package id (or a unique prefix) or name@version")
    gate.add_argument("--slot", default="primary", help="model slot: primary (default) or additional-N")
    gate.add_argument("--golden", type=int, help="golden-set version number (default: the latest)")
    who(gate)
    shadow = station(model_sub.add_parser(
        "shadow", help="run a candidate beside production on live frames, without affecting decisions; a report after N parts"))
    shadow.add_argument("package", nargs="?", help="the installed candidate: package id (or a unique prefix) or name@version")
    shadow.add_argument("--parts", type=int, default=500, help="parts to compare before the report (default 500)")
    shadow.add_argument("--slot", default="primary", help="model slot whose production decision it is compared with")
    shadow.add_argument("--stop", action="store_true", help="stop the shadow run")
    shadow.add_argument("--status", action="store_true", help="the ordered shadow run and its counts so far")
    who(shadow)
    triage = station(model_sub.add_parser(
        "triage", help="unlabelled parts scored close to a reject threshold, least certain first: review these"))
    triage.add_argument("--band", type=float, help="distance to the threshold (default: models.triage_band)")
    triage.add_argument("--limit", type=int, default=50, help="at most this many parts (default 50)")


def add_retrain_parser(sub: argparse._SubParsersAction) -> None:
    retrain = sub.add_parser(
        "retrain", help="reviewed labels -> dataset version -> training -> package -> (signed) install -> gate -> shadow",
        description="Turn the parts labelled on the review screen into a new dataset version, train and export a "
        "candidate, and, with a signing key, install it, gate it on the golden set and start its shadow run. "
        "Promotion stays a person's decision. See docs/model-registry.md.",
    )
    retrain.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    retrain.add_argument("--run-config", type=Path, help="training run config (family, settings; see docs/training.md)")
    retrain.add_argument("--work-dir", type=Path, required=True, help="datasets, training runs and packages go here")
    retrain.add_argument("--sign-key", type=Path, help="private key to sign the package (without it: stop after export)")
    retrain.add_argument("--signer", default="", help="who signs (default: --user)")
    retrain.add_argument("--shadow-parts", type=int, default=0, help="after a passing gate, shadow this many parts")
    retrain.add_argument("--user", default=getpass.getuser(), help="who retrains, for the audit trail (default: you)")


def run_retrain(args: argparse.Namespace) -> int:
    from inspector.config import load_config
    from inspector.modelops.retrain import retrain

    result = retrain(load_config(args.config), args.run_config, args.work_dir, args.user, sign_key=args.sign_key,
                     signer=args.signer, shadow_parts=args.shadow_parts)
    print("\n".join(result.lines()))
    return 1 if result.gate_passed is False else 0


def add_golden_parser(sub: argparse._SubParsersAction) -> None:
    """``inspector golden add|list|build``: the station's golden set."""
    golden = sub.add_parser("golden", help="the station's golden set: labelled images a candidate model is gated on")
    golden_sub = golden.add_subparsers(dest="golden_command", required=True)
    add = golden_sub.add_parser("add", help="add images to the golden set's draft (then 'golden build')")
    add.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--reviewed", action="store_true", help="parts labelled on the review screen (recorder database)")
    source.add_argument("--dataset", type=Path, help="an Inspector dataset folder (inspector dataset import); with --split")
    source.add_argument("--challenge", type=Path, help="a folder of challenge-part images; with --expect")
    add.add_argument("--split", default="test", help="--dataset: which split (default test)")
    add.add_argument("--expect", choices=["pass", "reject"], help="--challenge: the decision every image must get")
    add.add_argument("--since", type=float, default=0.0, help="--reviewed: labels made after this Unix time only")
    add.add_argument("--user", default=getpass.getuser(), help="who adds, for the audit trail (default: you)")
    for name, text in (("list", "golden-set versions and the draft"), ("build", "make the next version from the latest one and the draft")):
        p = golden_sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True, help="station config (YAML)")
        if name == "build":
            p.add_argument("--user", default=getpass.getuser(), help="who builds, for the audit trail (default: you)")


def run_golden(args: argparse.Namespace) -> int:
    from inspector.config import load_config
    from inspector.errors import ConfigError
    from inspector.modelops.registry import ModelRegistry

    config = load_config(args.config)
    with ModelRegistry(config) as registry:
        golden = registry.golden()
        if args.golden_command == "add":
            if args.reviewed:
                added = golden.add_reviewed(Path(config.recorder.database), args.user, args.since)
            elif args.dataset is not None:
                added = golden.add_dataset_split(args.dataset, args.split, args.user)
            else:
                if args.expect is None:
                    raise ConfigError("--expect", "say which decision the challenge parts must get (pass or reject)")
                added = golden.add_challenge_folder(args.challenge, args.expect, args.user)
            print(f"added {added} image(s); the draft holds {len(golden.draft())}: 'inspector golden build' makes a version")
            return 0
        if args.golden_command == "build":
            version = golden.build(args.user)
            counts = version.counts()
            print(f"built {version.version}: {counts['items']} images ({counts['good']} good, {counts['defective']} defective, "
                  f"{counts['challenge']} challenge parts)")
            return 0
        for version in golden.versions():
            c = version.counts()
            print(f"{version.version:<28} {c['items']:>5} images ({c['good']} good, {c['defective']} defective, "
                  f"{c['challenge']} challenge)  built {_when(version.built_at)} by {version.built_by}")
        print(f"draft: {len(golden.draft())} image(s) not yet in a version")
        return 0


def _shadow(registry, args: argparse.Namespace) -> int:
    from inspector.errors import ConfigError
    from inspector.modelops.shadow import (
        read_order,
        run_folder,
        shadow_summary,
        start_shadow,
        stop_shadow,
    )

    if args.stop:
        order = stop_shadow(registry, args.user)
        print(f"shadow run {order.run} stopped" if order else "no shadow run was ordered")
        return 0
    if args.status or args.package is None:
        if not args.status:
            raise ConfigError("package", "name the candidate to shadow (or --status, --stop)")
        order = read_order(registry)
        if order is None:
            print("no shadow run is ordered")
            return 0
        folder = run_folder(registry, order.run)
        print(f"shadow run {order.run}: {registry.package(order.candidate).label} for {order.parts} parts, slot {order.slot}")
        if (folder / "shadow.db").is_file():
            print("  " + ", ".join(f"{k} {v}" for k, v in shadow_summary(folder).items()))
        if (folder / "report.md").is_file():
            print(f"  report: {folder / 'report.md'}")
        return 0
    order = start_shadow(registry, args.package, args.user, args.parts, args.slot)
    print(f"shadow run {order.run} ordered: the running detector compares the candidate over the next {order.parts} parts; "
          f"report in {run_folder(registry, order.run)}")
    return 0


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
        if command == "gate":
            from inspector.modelops.gate import run_gate

            golden = registry.golden()
            version = golden.version(args.golden) if args.golden is not None else None
            report, path = run_gate(registry, golden, args.package, args.user, args.slot, version)
            c = report.counts
            print(f"gate {'PASSED' if report.passed else 'FAILED'}: {report.candidate_label} against {report.production_label} "
                  f"on {report.golden_version}" + ("" if report.passed else ": " + "; ".join(report.reasons)))
            print(f"  defects caught: production {c['production_caught']}, candidate {c['candidate_caught']} of {c['defective']}; "
                  f"false rejects: production {c['production_false_rejects']}, candidate {c['candidate_false_rejects']} of {c['good']}")
            print(f"report: {path.with_suffix('.md')}")
            return 0 if report.passed else 1
        if command == "triage":
            from inspector.modelops.triage import uncertain_parts

            queue = uncertain_parts(registry.config, args.band, args.limit)
            for p in queue:
                print(f"{p.camera}:{p.part_id:<8} {p.result:<16} {p.cls:<14} score {p.score:.3f} threshold {p.threshold:.3f} "
                      f"(±{p.uncertainty:.3f})  {p.image_path}")
            print(f"{len(queue)} part(s) to review")
            return 0
        if command == "shadow":
            return _shadow(registry, args)
        if command == "promote":
            package = registry.promote(args.package, args.user, args.slot, args.reason, force=args.force)
            print(f"slot {args.slot}: {package.label} ({package.short_id}) is production; a running detector swaps to it between parts")
            return 0
        if command == "rollback":
            label = registry.rollback(args.user, args.slot, args.reason, to=args.to)
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

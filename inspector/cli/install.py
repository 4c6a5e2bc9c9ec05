"""``inspector install``: the station as systemd services (docs/install.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("install",)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install",
        help="install the station as systemd services (start at boot, restart on failure, own user)",
        description="Copy the station config to /etc/inspector/station.yaml (paths made absolute, storage in "
        "/var/lib/inspector), make the station's user, its owner-only folders and keys, and the units "
        "inspector-station.service and inspector-hmi.service. See docs/install.md.",
    )
    p.add_argument("--config", type=Path, required=True, help="the plant's station config (YAML), validated and copied")
    p.add_argument("--root", type=Path, help="install into this folder (an image build, a test): no user made, "
                   "nothing chowned, no systemctl")
    p.add_argument("--user", default="inspector", help="the station's system user (default: inspector)")
    p.add_argument("--groups", default="", help="supplementary groups for devices, comma-separated (e.g. video,render)")
    p.add_argument("--python", default=sys.executable,
                   help="the Python the services run (default: this one, %(default)s)")
    p.add_argument("--hmi", action="store_true", help="enable and start the HMI's unit too (a panel PC)")
    p.add_argument("--no-keys", action="store_true",
                   help="make no line keys now (an image: each station makes its own at first start)")
    p.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")


def run(args: argparse.Namespace) -> int:
    from inspector.install import InstallOptions, install

    options = InstallOptions(
        config=args.config, root=args.root, user=args.user,
        groups=tuple(g.strip() for g in args.groups.split(",") if g.strip()),
        python=args.python, hmi=args.hmi, make_keys=not args.no_keys, dry_run=args.dry_run,
    )
    install(options, print)
    return 0

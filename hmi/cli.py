"""``inspector hmi``: run the HMI, manage its users; and how the demo starts it beside the line.

Nothing here imports Qt until the window is actually shown.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from hmi.roles import ROLES, HmiError
from inspector.file_modes import create_private, private_folder

log = logging.getLogger(__name__)


def add_hmi_commands(sub: argparse._SubParsersAction) -> None:
    hmi = sub.add_parser("hmi", help="the operator and review HMI (PySide6); 'inspector hmi add-user' manages users")
    hmi.add_argument("--config", type=Path, help="station config (YAML): the database, event stream and model of the line")
    hmi.add_argument("--db-only", action="store_true", help="do not subscribe to the line's events; show the database alone")
    hmi.add_argument("--idle-logout", type=float, default=300.0, metavar="S", help="log out after S seconds without a touch (default 300)")
    hmi.add_argument("--demo-users", action="store_true", help="create the demo users if there are none (operator 1111, quality 2222, admin 3333)")
    hmi.add_argument("--fullscreen", action="store_true", help="fill the screen (a panel PC)")
    hmi_sub = hmi.add_subparsers(dest="hmi_command")
    add = hmi_sub.add_parser("add-user", help="create an HMI user with a PIN (recorded in the audit trail)")
    add.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--pin", help="4 to 8 digits (asked for when not given)")
    users = hmi_sub.add_parser("users", help="list the HMI's users and roles")
    users.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    role = hmi_sub.add_parser("set-role", help="change a user's role (recorded in the audit trail)")
    role.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    role.add_argument("--name", required=True)
    role.add_argument("--role", required=True, choices=ROLES)
    unlock = hmi_sub.add_parser("unlock-user", help="unlock a user locked after repeated wrong PINs (recorded in the audit trail)")
    unlock.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    unlock.add_argument("--name", required=True)


def run_hmi_command(args: argparse.Namespace) -> int:
    from inspector.config import load_config

    if args.config is None:
        raise HmiError("--config is required: the station config says where the line's database and events are")
    config = load_config(args.config)
    if args.hmi_command in ("add-user", "users", "set-role", "unlock-user"):
        from calibration.station import open_audit_trail
        from hmi.users import UserDirectory, add_user
        from inspector.records.station import StationDatabase

        db = StationDatabase(config.recorder.database)
        by = f"cli:{getpass.getuser()}"
        try:
            with open_audit_trail(config) as audit:
                directory = UserDirectory(db, audit)
                if args.hmi_command == "users":
                    for user in directory.users():
                        print(f"{user.name}\t{user.role}")
                elif args.hmi_command == "set-role":
                    directory.set_role(args.name, args.role, by)
                    print(f"{args.name} is now {args.role} (recorded in the audit trail)")
                elif args.hmi_command == "unlock-user":
                    directory.unlock(args.name, by)
                    print(f"{args.name} unlocked (recorded in the audit trail)")
                else:
                    add_user(directory, audit, args.name, args.role, args.pin or _ask_pin(), by=by)
                    print(f"added {args.name} ({args.role})")
            return 0
        finally:
            db.close()
    from hmi.app import qt_application, run_window
    from hmi.context import open_hmi
    from hmi.qt_binding import require_sound_binding

    problem = display_problem()
    if problem:
        raise HmiError(f"the HMI cannot open a window: {problem}; {NO_DISPLAY_HELP}")
    qt_application()
    require_sound_binding()  # a leaking binding aborts the HMI within minutes: refuse before opening anything
    ctx = open_hmi(config, live=not args.db_only, idle_timeout_s=args.idle_logout, demo_users=args.demo_users)
    return run_window(ctx, fullscreen=args.fullscreen)


def _ask_pin() -> str:
    pin = getpass.getpass("PIN (4-8 digits): ")
    if getpass.getpass("PIN again: ") != pin:
        raise HmiError("the two PINs differ")
    return pin


# -- the demo's HMI ----------------------------------------------------------------------


HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")
NO_DISPLAY_HELP = (
    "run without the HMI (inspector demo --no-hmi), point DISPLAY at a running X server (for example "
    "'Xvfb :99 &' and DISPLAY=:99), or set QT_QPA_PLATFORM=offscreen for a window nobody sees"
)


def display_problem() -> str:
    """Why the HMI cannot open a window here ('' when it can): checked before Qt, which aborts the process."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0]
    if platform in HEADLESS_PLATFORMS:
        return ""
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland and platform in ("", "wayland"):
        path = Path(wayland) if wayland.startswith("/") else Path(os.environ.get("XDG_RUNTIME_DIR", "/run/user/0")) / wayland
        if path.exists():
            return ""
        if platform == "wayland":
            return f"the Wayland display {wayland!r} has no socket at {path}"
    display = os.environ.get("DISPLAY")
    if not display:
        return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
    host, _, number = display.rpartition(":")
    number = number.split(".", 1)[0]
    if not number.isdigit():
        return f"DISPLAY={display!r} is not a display name like ':0' or 'host:0'"
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(f"/tmp/.X11-unix/X{number}")
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=1.0).close()
    except OSError as err:
        return f"cannot reach the X display {display!r} ({err.strerror or err})"
    return ""



def start_hmi_process(station_file: Path, log_dir: Path) -> subprocess.Popen:
    """The HMI as its own process beside the demo's line (a stuck window never stalls the demo)."""
    private_folder(log_dir)
    with os.fdopen(create_private(log_dir / "hmi.log", append=True), "ab") as log_file:  # owner-only
        return subprocess.Popen(
            [sys.executable, "-m", "inspector", "hmi", "--config", str(station_file), "--demo-users"],
            stdout=log_file, stderr=subprocess.STDOUT,
        )


def wait_for_hmi(process: subprocess.Popen, stop: threading.Event, out: TextIO) -> None:
    """After the demo's line stopped: keep the HMI (on the database alone) until its window closes or Ctrl-C."""
    if process.poll() is None:
        out.write("The HMI stays open on the recorded shift; close its window (or Ctrl-C) to finish.\n")
        out.flush()
    while process.poll() is None and not stop.is_set():
        time.sleep(0.2)
    stop_hmi(process)


def stop_hmi(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""``inspector alarms``: the station's alarm board from the shell (read-only; acknowledging is the HMI's, audited)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from inspector.alarms.board_store import read_board
from inspector.messages import AlarmEntry

COMMANDS = ("alarms",)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    alarms = sub.add_parser("alarms", help="the station's alarm board: standing alarms, events to acknowledge, shelved ones")
    alarms.add_argument("--config", type=Path, required=True, help="station config (YAML): its station.state_dir")
    alarms.add_argument("--all", action="store_true", help="also alarms acknowledged and still standing, and shelved ones")


def _state(entry: AlarmEntry, now: float) -> str:
    if entry.shelved(now):
        return f"shelved until {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry.shelved_until))} by {entry.shelved_by}: {entry.shelve_reason}"
    state = "STANDING" if entry.active else ("event" if entry.kind == "event" else "cleared")
    return state + (f", acknowledged by {entry.acked_by}" if entry.acked else ", to acknowledge")


def board_lines(entries: list[AlarmEntry], now: float, everything: bool = False) -> list[str]:
    shown = [e for e in entries if everything or e.shown(now)]
    shown.sort(key=lambda e: (not e.standing(now), e.severity != "critical", -e.t_raised))
    lines = [f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e.t_raised))}  {e.severity:<8} {e.source:<14} {e.code:<26} "
             f"{_state(e, now)}{f' ({e.count}x)' if e.count > 1 else ''}\n    {e.text}" for e in shown]
    standing = sum(e.standing(now) for e in entries)
    critical = sum(e.standing(now) and e.severity == "critical" for e in entries)
    return [f"{standing} standing ({critical} critical: the PLC's alarm tag), {sum(e.shown(now) for e in entries)} on the "
            f"operator's list, {sum(e.shelved(now) for e in entries)} shelved", *lines]


def run(args: argparse.Namespace) -> int:
    from inspector.config import load_config

    config = load_config(args.config)
    for line in board_lines(read_board(config.station.state_dir), time.time(), args.all):
        print(line, file=sys.stdout)
    return 0

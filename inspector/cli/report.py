"""``inspector report``: shift and monthly reports, escapes import, a synthetic month, the shift-end scheduler."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.errors import ReportError

COMMANDS = ("report",)

USAGE = """examples:
  inspector report --config station.yaml --shift 2026-11-03/early
  inspector report --config station.yaml --shift 2026-11-03/06:00-14:00
  inspector report --config station.yaml --month 2026-11 --stations a.db b.db
  inspector report escapes import audit.csv --config station.yaml
  inspector report synth-month --month 2026-11 --db var/synth/inspector.db --png docs/reports
  inspector report list --config station.yaml
  inspector report scheduler --config station.yaml     (writes each shift's report when it ends)"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="shift and monthly reports for management (HTML and PDF)", epilog=USAGE,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("action", nargs="*", help="empty (make a report), 'escapes import FILE', 'synth-month', 'list' or 'scheduler'")
    report.add_argument("--config", type=Path, help="station config (default: the embedded default)")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--shift", help="DATE/SHIFT: a configured shift name or HH:MM-HH:MM (the date the shift starts)")
    which.add_argument("--month", help="YYYY-MM")
    report.add_argument("--stations", type=Path, nargs="+", metavar="DB", help="recorder databases of several stations (default: the config's)")
    report.add_argument("--out", type=Path, help="reports folder (default: reports.folder)")
    report.add_argument("--db", type=Path, help="synth-month and escapes import: the station database to write (default: the config's recorder.database)")
    report.add_argument("--rate", type=float, default=0.2, help="synth-month: parts per second while running")
    report.add_argument("--station", default="station-1", help="synth-month: station name")
    report.add_argument("--seed", type=int, default=2026, help="synth-month: random seed")
    report.add_argument("--png", type=Path, help="synth-month and reports: also write the pages as PNG files here")


def run(args: argparse.Namespace) -> int:
    from inspector.config import DEFAULT_CONFIG, load_config
    from inspector.reports import shifts

    config = load_config(args.config or DEFAULT_CONFIG)
    reports = config.reports
    action = args.action
    if action[:2] == ["escapes", "import"]:
        if len(action) != 3:
            raise ReportError("usage: inspector report escapes import FILE.csv [--config station.yaml] [--db DB]")
        from inspector.reports.escapes import import_escapes

        db = args.db or Path(config.recorder.database)
        result = import_escapes(db, Path(action[2]), reports.timezone)
        print(f"escapes: {result.rows} row(s) read from {action[2]}, {result.added} added to {db}, {result.skipped} already there")
        return 0
    if action == ["list"]:
        from inspector.reports.library import list_reports

        folder = args.out or Path(reports.folder)
        for e in list_reports(folder):
            print(f"{e.kind:<6} {e.label:<20} {', '.join(e.stations):<24} {e.inspected:>9,} parts  {folder / e.pdf}")
        return 0
    if action == ["scheduler"]:
        from inspector.reports.scheduler import run_scheduler

        run_scheduler(config)
        return 0
    if action == ["synth-month"]:
        if not args.month:
            raise ReportError("synth-month needs --month YYYY-MM")
        from inspector.reports.synth import synth_month

        period = shifts.parse_month(args.month, reports.timezone)
        db = args.db or Path(config.recorder.database)
        summary = synth_month(db, period, station=args.station, rate=args.rate, seed=args.seed)
        print(f"synthetic {period.label}: {summary.parts:,} parts, {summary.rejects:,} rejects, {summary.failsafes} fail-safes, "
              f"{summary.false_rejects_marked} marked false rejects, {summary.escapes} escapes imported, {summary.stops} stops; in {db}")
        return _make(args, reports, period, [db], config)
    if action:
        raise ReportError(f"unknown report action {' '.join(action)!r} (use 'escapes import FILE', 'synth-month', 'list' or 'scheduler')")
    if not (args.shift or args.month):
        raise ReportError("say which period: --shift DATE/SHIFT or --month YYYY-MM")
    period = shifts.parse_shift(args.shift, reports) if args.shift else shifts.parse_month(args.month, reports.timezone)
    return _make(args, reports, period, args.stations or [Path(config.recorder.database)], config)


def _make(args, reports, period, databases, config) -> int:
    from inspector.reports.library import generate
    from inspector.reports.render import pages, write_pngs

    folder = args.out or Path(reports.folder)
    entry, figures = generate(databases, period, reports, folder)
    print(f"{period.kind} report {period.label}: {figures[0].inspected:,} parts, reject rate {figures[0].reject_rate:.2%}, "
          f"false-reject rate {figures[0].false_reject_rate:.3%}")
    print(f"  {folder / entry.html}\n  {folder / entry.pdf}")
    if args.png:
        for path in write_pngs(pages(figures), args.png, f"{period.kind}-report"):
            print(f"  {path}")
    return 0



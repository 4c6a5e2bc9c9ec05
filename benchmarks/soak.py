"""Soak: the whole station for hours at a high part rate under a fault schedule; writes a report with the issue's criteria.

The line under the real supervisor (``inspector run``), the HMI under Xvfb,
MQTT to a Mosquitto with a subscriber of the soak's own (mosquitto_sub), OPC
UA with a subscribed client, Prometheus metrics scraped. After a warm-up, one
fault per slot (``--fault-every``), cycling through the list for the whole
run: kill -9 and SIGSTOP of each service in turn, the broker away, the PLC
hung, the OPC UA server restarted, the disk filling, the part counter near its
wrap, a refused PLC tag. Per fault: parts seen / decided / recorded /
delivered / lost, alarms raised and cleared (time from the cause's end), the
HMI, MQTT and OPC UA against the parts. Overall: RSS per process, log size,
Prometheus against the records. Runs for minutes to hours: not in ``make
test``. Ctrl-C ends early and still writes the report. Usage::

    python benchmarks/soak.py --duration 2h --rate 16 --out benchmarks/results/soak.md
    python benchmarks/soak.py --duration 8m --warmup 1m --fault-every 20s --faults kill,broker --out /tmp/soak.md

Needs Debian's xvfb, x11-apps (xwd), x11-utils (xwininfo), mosquitto and mosquitto-clients
(scripts/ensure-system-packages installs them).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.bench.soak.report import criteria, machine, write  # noqa: E402
from inspector.bench.soak.run import run_soak  # noqa: E402
from inspector.bench.soak.settings import FAULT_GROUPS, SoakSettings, expand_faults, parse_duration, parse_size  # noqa: E402


def parse_args(argv: list[str]) -> SoakSettings:
    d = SoakSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", default="2h", help="the whole run, warm-up included (90s, 10m, 2h; default 2h)")
    p.add_argument("--rate", type=float, default=d.rate_hz, help=f"parts per second (default {d.rate_hz:g})")
    p.add_argument("--out", type=Path, default=d.out, help="the report (.md; the .json beside it; screenshots in <name>-screens/)")
    p.add_argument("--faults", default=",".join(FAULT_GROUPS),
                   help="comma-separated, cycled: kill, stop (each service in turn; or kill:recorder, stop:hmi, ...), "
                        f"{', '.join(FAULT_GROUPS[2:])} (default: all); 'none' for a run without faults (what rate keeps up)")
    p.add_argument("--fault-every", default=f"{d.fault_every_s:g}s", help="one fault per slot this long (fault + recovery)")
    p.add_argument("--fault-for", default=f"{d.fault_for_s:g}s", help="how long the broker, disk and refused-tag faults last")
    p.add_argument("--stop-for", default=f"{d.stop_for_s:g}s", help="SIGSTOP to SIGCONT")
    p.add_argument("--plc-hang", default=f"{d.plc_hang_s:g}s", help="how long the PLC hangs")
    p.add_argument("--warmup", default=f"{d.warmup_s:g}s", help="no faults; memory and log size are taken at its end")
    p.add_argument("--final-recovery", default=f"{d.final_recovery_s:g}s", help="after the last fault, before standing alarms are read")
    p.add_argument("--plc", choices=("external", "supervised"), default=d.plc,
                   help="external (default): the soak runs the PLC simulator, as a plant PLC; supervised: inspector run does "
                        "(the refused-tag fault is then skipped)")
    p.add_argument("--size", default=f"{d.width}x{d.height}", help="synthetic frame size (at least 320x240)")
    p.add_argument("--defect-rate", type=float, default=d.defect_rate)
    p.add_argument("--config", type=Path, help="base station config (default: the shipped one)")
    p.add_argument("--workdir", type=Path, help="keep the station's data here (default: a temporary folder, removed)")
    p.add_argument("--keep-workdir", action="store_true", help="do not remove the temporary folder")
    p.add_argument("--scrape-every", default=f"{d.scrape_every_s:g}s")
    p.add_argument("--sample-every", default=f"{d.sample_every_s:g}s", help="RSS and the HMI's window")
    p.add_argument("--screenshot-every", default=f"{d.screenshot_every_s:g}s")
    p.add_argument("--disk-warn-margin", default="6GiB", help="the recorder's warning threshold: this far below the free space at start")
    p.add_argument("--disk-crit-margin", default="8GiB", help="its critical threshold: this far below")
    p.add_argument("--rss-min-span", default=f"{d.rss_min_span_s:g}s", help="judge a process instance's memory over at least this long")
    p.add_argument("--log-limit", default="100MiB")
    a = p.parse_args(argv)
    width, _, height = a.size.partition("x")
    s = SoakSettings(
        duration_s=parse_duration(a.duration), rate_hz=a.rate, out=a.out.with_suffix(".md"),
        faults=expand_faults([f.strip() for f in a.faults.split(",") if f.strip() and f.strip() != "none"]),
        fault_every_s=parse_duration(a.fault_every), fault_for_s=parse_duration(a.fault_for), stop_for_s=parse_duration(a.stop_for),
        plc_hang_s=parse_duration(a.plc_hang), warmup_s=parse_duration(a.warmup), final_recovery_s=parse_duration(a.final_recovery),
        plc=a.plc, width=int(width), height=int(height), defect_rate=a.defect_rate, config=a.config, workdir=a.workdir,
        keep_workdir=a.keep_workdir, scrape_every_s=parse_duration(a.scrape_every), sample_every_s=parse_duration(a.sample_every),
        screenshot_every_s=parse_duration(a.screenshot_every), disk_warn_margin=parse_size(a.disk_warn_margin),
        disk_crit_margin=parse_size(a.disk_crit_margin), rss_min_span_s=parse_duration(a.rss_min_span), log_limit=parse_size(a.log_limit),
    )
    s.check()
    return s


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # the soak's OPC UA client notes its own errors in the report
    settings = parse_args(argv)
    result = run_soak(settings, lambda line: print(line, flush=True))
    result["command"] = shlex.join([Path(sys.executable).name, *sys.argv])
    result["machine"] = machine()
    result["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()}
    result["criteria"] = criteria(result, settings)
    print(write(result, settings))
    return 0 if all(c["ok"] or c.get("information") for c in result["criteria"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

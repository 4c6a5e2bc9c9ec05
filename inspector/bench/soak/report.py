"""The soak's report: the issue's criteria, pass or fail, a row per fault, and the figures behind them (Markdown + JSON)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from inspector.bench.machine import REPO, cpu_model, load_average
from inspector.bench.soak.settings import SoakSettings

ISSUE_HOURS, ISSUE_PARTS = 2.0, 100_000
HMI_WINDOW_GRACE_S = 20.0  # a restarted HMI needs this long to show its window


def machine() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")), 0)
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.system()) if Path("/etc/os-release").exists() else platform.system()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gib": round(mem / 1024**2, 1), "os": f"{os_name}, kernel {platform.release()}",
            "python": platform.python_version(), "load_average_at_end": load_average(),
            "commit": run("git", "rev-parse", "HEAD"), "uncommitted_changes": bool(run("git", "status", "--porcelain", "--untracked-files=no"))}


def _ts(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + time.strftime(" %Z") if t else "-"


def _hmi_should_show(hmi: dict[str, Any], t: float) -> bool:
    """An HMI was supposed to be on the screen at ``t``: not down after a kill, not starting."""
    spans = [(down, (up or float("inf")) + HMI_WINDOW_GRACE_S) for down, up in hmi["down"]]
    starts = [e["t"] for e in hmi["timeline"] if e["event"] in ("started", "watched", "restarted")]
    return not any(a <= t <= b for a, b in spans) and not any(0 <= t - s <= HMI_WINDOW_GRACE_S for s in starts)


def _hmi_window_gaps(hmi: dict[str, Any]) -> list[float]:
    """Checks that found no HMI window while one should have been there."""
    return [t for t in hmi["window_missing"] if _hmi_should_show(hmi, t)]


def _blank_screens(hmi: dict[str, Any]) -> list[dict[str, Any]]:
    """Screenshots that failed, or show one colour (a black screen), while an HMI should have been there."""
    return [s for s in hmi.get("screenshots", []) if ("error" in s or s["non_background_share"] < 0.01) and _hmi_should_show(hmi, s["t"])]


def _alarmed(w: dict[str, Any], prev: dict[str, Any] | None) -> str:
    """How the fault's expected condition showed: raised in its window, or still standing from before ('' if neither)."""
    code = w["expected_alarm"]
    if any(a["code"] == code for a in w["alarms"]["raised"]):
        return "raised"
    if prev is not None and any(s["code"] == code for s in prev["standing_at_end"]):
        return "still standing from before (never cleared)"
    return ""


def criteria(result: dict[str, Any], settings: SoakSettings) -> list[dict[str, Any]]:
    windows = result.get("windows", [])
    parts = sum(w["parts"]["seen"] for w in windows)
    lost = sum(w["parts"]["lost"] for w in windows)
    fault_alarms = [a | {"window": w["name"]} for w in windows if w["fault"] for a in w["alarms"]["raised"]]
    late = [a for a in fault_alarms if not a["ok"]]
    standing = result.get("standing_at_measure_end", [])
    hmi = result.get("hmi", {})
    gaps = _hmi_window_gaps(hmi) if hmi else []
    blank = _blank_screens(hmi) if hmi else []
    must_alarm = [(w, prev) for prev, w in zip([None, *windows], windows) if w.get("expected_alarm")]
    silent = [w["name"] for w, prev in must_alarm if not _alarmed(w, prev)]
    rss = result.get("rss", {})
    rss_bad = sorted(n for n, r in rss.items() if r["ok"] is False)
    rss_judged = sum(1 for r in rss.values() if r["judged"])
    logs = result.get("logs")
    hours = (result.get("t_measure_end", 0) - result.get("t_started", 0)) / 3600
    quiet_failsafe = sum(w["parts"]["failsafe"] for w in windows if not w["fault"] and w["name"] != "drain and stop")
    return [
        {"criterion": "lost parts (seen without exactly one recorded decision)", "value": lost, "limit": 0, "ok": bool(windows) and lost == 0},
        {"criterion": f"alarms raised in a fault's window cleared within {settings.clear_limit_s:g} s of its cause ending",
         "value": f"{len(fault_alarms) - len(late)} of {len(fault_alarms)}", "limit": "all", "ok": bool(windows) and not late},
        {"criterion": "each fault that must alarm recorded its condition (service_down, plc_connection_lost, mqtt_broker_unreachable, "
                      "plc_tag_refused, disk_space_*)", "value": f"{len(must_alarm) - len(silent)} of {len(must_alarm)}"
                      + (f"; silent: {', '.join(sorted(set(silent)))}" if silent else ""), "limit": "all", "ok": not silent},
        {"criterion": "alarms standing after the last recovery window", "value": len(standing), "limit": 0,
         "ok": bool(windows) and not standing},
        {"criterion": "HMI up for the whole run (no death of its own, every killed HMI restarted by the station, its window shown)",
         "value": (f"{len(hmi.get('unexpected_deaths', []))} deaths of its own, {hmi.get('restarted_by_soak', 0)} restarts by the soak, "
                   f"{len(gaps)} checks without its window, {len(blank)} blank or failed screenshots"),
         "limit": "0, 0, 0, 0", "ok": bool(hmi) and not hmi["unexpected_deaths"] and not hmi["restarted_by_soak"] and not gaps and not blank},
        {"criterion": f"RSS growth per process instance after warm-up (instances watched >= {settings.rss_min_span_s / 60:g} min)",
         "value": f"{rss_judged} judged; over the limit: {', '.join(rss_bad) or 'none'}", "limit": f"< {settings.rss_growth_limit:.0%}",
         "ok": rss_judged > 0 and not rss_bad},
        {"criterion": "logs bounded (folder size at the end; its growth after warm-up carried on for 30 days)",
         "value": (f"{logs['end']['total'] / 1024**2:.1f} MiB; {logs['month_estimate_bytes'] / 1024**2:.0f} MiB in 30 days" if logs else "-"),
         "limit": (f"{settings.log_limit / 1024**2:.0f} MiB; {settings.log_month_limit / 1024**2:.0f} MiB"), "ok": bool(logs and logs["ok"])},
        {"criterion": "run length (the issue's: at least 2 hours and 100,000 parts)", "value": f"{hours:.2f} h, {parts} parts",
         "limit": f">= {ISSUE_HOURS:g} h, >= {ISSUE_PARTS:,}", "ok": hours >= ISSUE_HOURS and parts >= ISSUE_PARTS},
        {"criterion": "the line keeps up: fail-safe decisions outside the fault windows (information)", "value": quiet_failsafe,
         "limit": 0, "ok": quiet_failsafe == 0, "information": True},
        {"criterion": "the soak ran to its end", "value": result.get("error") or "yes", "limit": "yes", "ok": not result.get("error")},
    ]


def _alarm_cell(a: dict[str, Any]) -> str:
    raised = a["raised"]
    if not raised:
        return "-"
    cleared = [x for x in raised if x["t_cleared"] is not None]
    delays = [x["clear_after_cause_s"] for x in raised if x["clear_after_cause_s"] is not None]
    codes = ", ".join(sorted({f"{x['code']}({x['source']})" + ("" if x["ok"] else " **late**") for x in raised}))
    return f"{len(raised)}/{len(cleared)}" + (f", max {max(delays):g} s" if delays else "") + f": {codes}"


def markdown(result: dict[str, Any], settings: SoakSettings) -> str:
    m, checks, windows = result["machine"], result["criteria"], result.get("windows", [])
    parts = sum(w["parts"]["seen"] for w in windows)
    span = result.get("t_measure_end", 0) - result.get("t_started", 0)
    notes = result.get("notes", {})
    hmi = result.get("hmi", {})
    lines = [
        "# Soak: the whole station for hours under a fault schedule",
        "",
        f"- command: `{result['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; Python {m['python']}; load at the end {m['load_average_at_end']}",
        f"- commit: {m['commit']}{' (with uncommitted changes)' if m['uncommitted_changes'] else ''}",
        f"- started {_ts(result.get('t_started'))}, measured until {_ts(result.get('t_measure_end'))} ({span / 3600:.2f} h), "
        f"stopped {_ts(result.get('t_stopped'))}; {parts:,} parts ({parts / span if span > 0 else 0:.1f}/s)",
        f"- station: the shipped config, synthetic camera {settings.width}x{settings.height} at {settings.rate_hz:g} parts/s "
        f"(defect rate {settings.defect_rate:g}), CURVE on; PLC: the cpppo simulator run by "
        f"{'the soak (as a plant PLC)' if notes.get('plc') == 'external' else 'the supervisor'}, alarm tag {notes.get('alarm_tag')}; "
        f"HMI under Xvfb, {'run by the supervisor' if hmi.get('supervised') else 'run by the soak (the station has no supervised HMI)'}; "
        "MQTT to Mosquitto with a mosquitto_sub subscriber; OPC UA with a subscribed client; Prometheus scraped every "
        f"{settings.scrape_every_s:g} s",
        f"- faults: one every {settings.fault_every_s:g} s after a {settings.warmup_s / 60:g} min warm-up (SIGSTOP {settings.stop_for_s:g} s, "
        f"PLC hung {settings.plc_hang_s:g} s, broker/disk/refused tag {settings.fault_for_s:g} s), in turn: {', '.join(settings.faults)}; "
        f"final recovery {settings.final_recovery_s:g} s",
        f"- disk thresholds: {_disk_note(notes.get('disk', {}))}",
    ]
    if result.get("error"):
        lines.append(f"- **the soak stopped early: {result['error']}**")
    lines += ["", "## Criteria", "", "| criterion | value | limit | pass |", "|---|---|---|---|"]
    for c in checks:
        mark = ("yes" if c["ok"] else "**no**") + (" (information)" if c.get("information") else "")
        lines.append(f"| {c['criterion']} | {c['value']} | {c['limit']} | {mark} |")
    lines += ["", "## Per fault", "",
              "Parts by trigger time in each window (the fault and its recovery). Alarms: conditions raised in the window / cleared, "
              "the longest time from the cause's end to the clear, and their codes (**late**: not cleared within "
              f"{settings.clear_limit_s:g} s). Standing: conditions active at the window's end. MQTT / OPC UA: recorded parts of the "
              "window received by the soak's subscriber / client.", "",
              "| # | window | cause ended after | seen | decided | recorded | PLC | **lost** | fail-safe | alarms raised/cleared | events | standing at end | HMI | MQTT | OPC UA |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, w in enumerate(windows):
        p = w["parts"]
        cause = f"{w['t_cause_end'] - w['t_start']:.1f} s" if w["t_cause_end"] else ("skipped" if w["skipped"] else "-" if not w["fault"] else "unknown")
        events = ", ".join(f"{k} x{v}" for k, v in sorted(w["alarms"]["events"].items())) or "-"
        standing = ", ".join(f"{s['code']}({s['source']})" for s in w["standing_at_end"]) or "-"
        lines.append(f"| {i} | {w['name']} | {cause} | {p['seen']} | {p['decided']} | {p['recorded']} | {p['delivered']} | **{p['lost']}** "
                     f"| {p['failsafe']} | {_alarm_cell(w['alarms'])} | {events} | {standing} | {_hmi_cell(hmi, w)} | {p['mqtt']} | {p['opcua']} |")
    lines += _details(result, windows, settings)
    return "\n".join(lines) + "\n"


def _disk_note(d: dict[str, Any]) -> str:
    if not d:
        return "-"
    set_ = ", ".join(f"{k} = {v}" for k, v in d.get("fields", {}).items()) or "none found in the recorder's config"
    return (f"free at start {d['free_at_start'] / 1024**3:.1f} GiB; warning at {d['free_warning'] / 1024**3:.1f} GiB free, "
            f"critical at {d['free_critical'] / 1024**3:.1f} GiB free; set: {set_}")


def _hmi_cell(hmi: dict[str, Any], w: dict[str, Any]) -> str:
    events = [e for e in hmi.get("timeline", []) if w["t_start"] <= e["t"] < w["t_end"]]
    if not events:
        return "up"
    return "; ".join(f"{e['event']} {e['pid']}" for e in events)


def _details(result: dict[str, Any], windows: list[dict[str, Any]], settings: SoakSettings) -> list[str]:
    out = ["", "## Faults: what was done", ""]
    for i, w in enumerate(windows):
        text = w["skipped"] and f"skipped: {w['skipped']}" or w["error"] and f"**error: {w['error']}**" or "; ".join(w["detail"]) or w["what"]
        lost = f" Lost: {', '.join(w['parts']['lost_examples'])}." if w["parts"]["lost_examples"] else ""
        ids = w["parts"]
        expected = w.get("expected_alarm")
        alarmed = "" if not expected else f" Expected {expected}: {_alarmed(w, windows[i - 1] if i else None) or '**not raised**'}."
        p = w["parts"]
        if p["lost"]:
            alarmed += (f" Lost {p['lost']}: {p['seen_gaps']} never journaled by the actuator, {p['lost_undecided']} journaled "
                        f"but not decided, {p['lost_unrecorded']} decided but not recorded.")
        out.append(f"{i}. {w['name']} ({_ts(w['t_start'])}): {text}.{alarmed} Part ids {ids['min_id']}..{ids['max_id']}"
                   f"{', ids reused: ' + str(ids['id_reused']) if ids['id_reused'] else ''}"
                   f"{', part-seen gaps: ' + str(ids['seen_gaps']) if ids['seen_gaps'] else ''}.{lost}")
    late = [(w["name"], a) for w in windows for a in w["alarms"]["raised"] if not a["ok"]]
    out += ["", "## Alarms not cleared in time, or not at all", ""]
    out += [f"- {name}: {a['code']} ({a['source']}, {a['severity']}) raised {_ts(a['t_raised'])}: {a['verdict']}. \"{a['text']}\""
            for name, a in late] or ["- none"]
    out += ["", "## Alarms standing after the last recovery window", ""]
    out += [f"- {s['code']} ({s['source']}, {s['severity']}) since {_ts(s['since'])}: \"{s['text']}\""
            for s in result.get("standing_at_measure_end", [])] or ["- none"]
    hmi = result.get("hmi", {})
    out += ["", "## HMI", "", f"Window checks: {hmi.get('window_checks', 0)}, without the window: {len(hmi.get('window_missing', []))} "
            f"({len(_hmi_window_gaps(hmi)) if hmi else 0} while it should have been up).", ""]
    out += [f"- {_ts(e['t'])}: {e['event']} pid {e['pid']} {e['detail']}" for e in hmi.get("timeline", [])]
    out += [f"- screenshot {_ts(s['t'])} ({s['why']}): " + (f"`{Path(s['path']).name}`, {s['non_background_share']:.1%} of the screen "
            "unlike its background" if "path" in s else f"failed: {s['error']}") for s in hmi.get("screenshots", [])]
    restarts = ", ".join(f"{name} {n}" for name, n in sorted(result.get("restarts", {}).items()))
    out += ["", "## Memory (RSS, MiB)", "", f"Runs of each supervised process after its first (restarts): {restarts or '-'}.", "", "| process | after warm-up | end | instances | judged | max growth | ok |", "|---|---|---|---|---|---|---|"]
    for group in ("rss", "infra_rss"):
        for name, r in sorted(result.get(group, {}).items()):
            label = name if group == "rss" else f"{name} (the soak's)"
            start = f"{r['start_kb'] / 1024:.1f}" if r["start_kb"] else "-"
            growth = f"{r['max_growth']:+.1%}" if r["max_growth"] is not None else "-"
            ok = "-" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
            out.append(f"| {label} | {start} | {r['end_kb'] / 1024:.1f} | {r['instances']} | {r['judged']} | {growth} | {ok} |")
    logs = result.get("logs")
    if logs:
        out += ["", "## Logs", "", f"After warm-up {logs['start']['total'] / 1024**2:.2f} MiB, at the end {logs['end']['total'] / 1024**2:.2f} MiB "
                f"in {logs['end']['files']} files (largest {logs['end']['largest_file']}, {logs['end']['largest'] / 1024**2:.2f} MiB); "
                f"{logs['growth_bytes_per_h'] / 1024**2:.2f} MiB/h."]
    out += _outputs(result)
    out += ["", "## The soak's own notes", ""] + ([f"- {f}" for f in result.get("findings", [])] or ["- none"])
    return out


def _outputs(result: dict[str, Any]) -> list[str]:
    mqtt, opcua, prom, notes = result.get("mqtt", {}), result.get("opcua", {}), result.get("prometheus", {}), result.get("part_notes", {})
    windows = result.get("windows", [])
    recorded = sum(w["parts"]["recorded"] for w in windows if w["name"] != "drain and stop")
    got = sum(w["parts"]["mqtt"] for w in windows if w["name"] != "drain and stop")
    events = sum(w["parts"]["opcua"] for w in windows if w["name"] != "drain and stop")
    out = ["", "## Plant outputs", "",
           f"- MQTT: of {recorded:,} parts recorded before the end of the last recovery window, {got:,} received by the subscriber "
           f"({recorded - got:,} not); {mqtt.get('part_messages', 0):,} part messages ({notes.get('mqtt_duplicates', 0)} duplicates), "
           f"{mqtt.get('alarm_messages', 0)} alarm messages, {mqtt.get('unreadable', 0)} unreadable; broker restarts {mqtt.get('broker_restarts', 0)}. "
           "Per topic: " + ", ".join(f"`{t.rsplit('/', 2)[-2] + '/' + t.rsplit('/', 1)[-1]}` {n:,}" for t, n in sorted(mqtt.get("per_topic", {}).items())),
           f"- OPC UA: {opcua.get('events', 0):,} result events; {events:,} of the {recorded:,} recorded parts had one (the server is an "
           f"observer of the line, which may drop under load or while it restarts); subscribed {opcua.get('connects', 0)} times"
           + _session_gaps(opcua.get("sessions", []), result.get("t_measure_end"))
           + (f"; last errors: {'; '.join(opcua.get('errors', [])[-3:])}" if opcua.get("errors") else ""),
           f"- records: {notes.get('recorded_without_journal_entry', 0)} recorded parts without a journal entry, "
           f"{notes.get('parts_outside_windows', 0)} parts outside the windows", ""]
    if prom.get("comparison"):
        out += ["Prometheus (counters summed over restarts, as `increase()` does) against the records, with the camera paused:", "",
                "| what | Prometheus | records | difference | restarts | up to (restarts) | consistent |", "|---|---|---|---|---|---|---|"]
        out += [f"| {r['what']} | {r['prometheus']:,} | {r['records']:,} | {r['difference']:+,} | {r['restarts']} | "
                f"{r['explained_by_restarts']:,} | {'yes' if r['consistent'] else '**no**'} |" for r in prom["comparison"]]
        failures = {k: v for k, v in prom.get("failures", {}).items() if v}
        out += ["", f"Scrapes per endpoint: {prom.get('scrapes', {})}; failed: {failures or 'none'}."]
    return out


def _session_gaps(sessions: list[list[float | None]], t_end: float | None) -> str:
    gaps = [b[0] - a[1] for a, b in zip(sessions, sessions[1:]) if a[1] is not None]
    return f", the longest time without a subscription {max(gaps):.1f} s" if gaps else ""


def write(result: dict[str, Any], settings: SoakSettings) -> str:
    text = markdown(result, settings)
    out = settings.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    return text

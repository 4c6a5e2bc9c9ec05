"""The chaos suite's tables: one row per line case, one per attack check; and whether the suite held."""

from __future__ import annotations

LINE_HEADER = (
    "| fault | seen | decided | recorded | twice | PLC confirmed | PLC seq breaks | fail-safe | past gate "
    "| crashed | forged / accepted | alarms (active) | notes | **lost** |"
)


def _notes(notes: dict) -> str:
    shown = {k: v for k, v in notes.items() if v not in ([], 0, "", None) and k != "plc_watch_results"}
    return "; ".join(f"{k}={v}" for k, v in shown.items()).replace("|", "/") or "-"


def line_rows(results: list[dict]) -> list[str]:
    rows = [LINE_HEADER, "|" + "---|" * (LINE_HEADER.count("|") - 1)]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['what']} | | | | | | | | | | | harness error: {r['error']} | | ? |")
            continue
        rows.append(
            f"| {r['what']} | {r['seen']} | {r['decided']} | {r['recorded']} | {r['recorded_twice']} "
            f"| {r['plc_confirmed']} | {r['plc_seq_breaks']} | {r['failsafe']} | {r['past_gate']} "
            f"| {'; '.join(r['crashed']) or 'no'} | {'; '.join(r['forged']) or 'nothing'} "
            f"| {', '.join(r['alarms']) or '-'} | {_notes(r['notes'])} | **{r['lost']}** |"
        )
    return rows


def attack_rows(results: list[dict]) -> list[str]:
    rows = ["| attack | what | held | what the station said |", "|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['case']} | | ? | harness error: {r['error']} |")
            continue
        rows.append(f"| {r['case']} | {r['what']} | {'**yes**' if r['held'] else '**NO**'} | {r['said'].replace('|', '/')} |")
    return rows


def line_case_held(r: dict) -> bool:
    return "error" not in r and r["lost"] == 0 and not r["crashed"] and not r["forged"] and r["past_gate"] == 0


def attack_held(r: dict) -> bool:
    return "error" not in r and r["held"]

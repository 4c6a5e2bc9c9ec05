"""A report as HTML (self-contained, plots embedded) and PDF (matplotlib, A4 landscape).

The PDF has four pages: summary (key figures and money), production (parts,
reject and false-reject rates), stability (availability, fail-safes, escapes,
alarms), latency and models; with several stations a fifth compares them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from inspector.reports.figures import Figures
from inspector.reports.shifts import local_time

A4_LANDSCAPE = (11.69, 8.27)
BLUE, RED, ORANGE, GREY, GREEN = "#1f5fa8", "#c0392b", "#e67e22", "#7f8c8d", "#27ae60"


def pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} ms"


def money(x: float, currency: str) -> str:
    return f"{x:,.0f} {currency}".replace(",", "\u202f")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def when(t: float, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local_time(t, timezone).strftime(fmt)


def key_figures(f: Figures) -> list[tuple[str, str]]:
    """The summary table, as the report shows it (label, value)."""
    m = f.money
    rows = [
        ("Parts inspected", f"{f.inspected:,}"),
        ("Rejected (incl. fail-safe)", f"{f.rejected:,}  ({pct(f.reject_rate)})"),
        ("False rejects (operator-confirmed)", f"{f.false_rejects:,}  ({pct(f.false_reject_rate, 3)})"),
        ("Rejects confirmed as defects", f"{f.confirmed_defects:,}"),
        ("Escapes (downstream audits)", f"{f.escapes:,}  ({pct(f.escape_rate, 4)})"),
        ("Fail-safe decisions", f"{f.failsafes:,}  (rejects {f.failsafe_rejects:,}, passes {f.failsafe_passes:,})"),
        ("Availability", f"{pct(f.availability, 1)}  (planned {hours(f.planned_s)}, down {hours(f.downtime_s)}, {len(f.stops)} stops)"),
        ("Trigger-to-PLC latency", f"p50 {ms(f.latency_p50_ms)}, p99 {ms(f.latency_p99_ms)}, max {ms(f.latency_max_ms)}"),
        ("Model versions", ", ".join(m_.version for m_ in f.models) or "–"),
        ("Alarms raised", ", ".join(f"{k} {v}" for k, v in sorted(f.alarms.items())) or "none"),
    ]
    rows += [
        ("Cost of false rejects", money(m.false_reject_cost, m.currency)),
        ("Cost of escapes", money(m.escape_cost, m.currency)),
        (f"Same parts at baseline ({m.baseline_label})", money(m.baseline_cost, m.currency)),
        ("Savings against the baseline", money(m.savings, m.currency)),
    ]
    if m.roi is not None:
        rows += [("Running cost of the station", money(m.system_cost, m.currency)),
                 ("Net benefit (ROI)", f"{money(m.net, m.currency)}  ({pct(m.roi, 0)})")]
    return rows


# -- plots ------------------------------------------------------------------------------------------
def _page(title: str, f: Figures) -> Figure:
    fig = Figure(figsize=A4_LANDSCAPE)
    fig.suptitle(f"{title} — {f.station}, {f.period.kind} {f.period.label} ({f.period.timezone})", fontsize=13, fontweight="bold")
    return fig


def _x(f: Figures) -> tuple[list[int], list[str], str]:
    labels = [b.label for b in f.buckets]
    return list(range(len(labels))), labels, "hour" if f.period.kind == "shift" else "day of month"


def _ticks(ax, f: Figures) -> None:
    x, labels, name = _x(f)
    step = 1 if len(x) <= 16 else 2
    ax.set_xticks(x[::step], labels[::step], fontsize=8)
    ax.set_xlabel(name)
    ax.grid(axis="y", alpha=0.3)


def summary_page(f: Figures, stations: list[Figures]) -> Figure:
    fig = _page("Inspection report", f)
    ax = fig.add_axes([0.05, 0.05, 0.9, 0.85])
    ax.axis("off")
    rows = key_figures(f)
    table = ax.table(cellText=[list(r) for r in rows], colLabels=["Figure", "Value"], colWidths=[0.38, 0.62], loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.55)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_facecolor("#dfe6ee")
            cell.set_text_props(fontweight="bold")
    _side_tables(fig, f)
    note = (f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
            "False rejects: rejects an operator marked as good parts. Availability: gaps between parts longer than "
            "reports.downtime_gap_s inside the planned shifts count as downtime.")
    if len(stations) > 1:
        note += f" Stations: {', '.join(s.station for s in stations)}."
    fig.text(0.05, 0.03, note, fontsize=8, color=GREY, wrap=True)
    return fig


def _side_tables(fig: Figure, f: Figures) -> None:
    """Below the key figures: the longest stops and the alarms raised most often."""
    stops = sorted(f.stops, key=lambda s: -s[1])[:5]
    alarms = sorted(f.alarm_codes.items(), key=lambda kv: -kv[1])[:5]
    for left, title, header, rows in (
        (0.05, "Longest stops", ["start", "minutes"], [[when(t, f.period.timezone), f"{s / 60:.0f}"] for t, s in stops]),
        (0.52, "Alarms raised most often", ["alarm", "times"], [[code, f"{n:,}"] for code, n in alarms]),
    ):
        ax = fig.add_axes([left, 0.08, 0.43, 0.22])
        ax.axis("off")
        ax.set_title(title, fontsize=10, loc="left")
        if not rows:
            ax.text(0, 0.8, "none", fontsize=9, color=GREY)
            continue
        table = ax.table(cellText=rows, colLabels=header, colWidths=[0.7, 0.3], loc="upper left", cellLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.3)


def production_page(f: Figures) -> Figure:
    fig = _page("Production and quality", f)
    x, _, _ = _x(f)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.bar(x, [b.inspected for b in f.buckets], color=BLUE, label="inspected")
    ax1.bar(x, [b.rejected for b in f.buckets], color=RED, label="rejected")
    ax1.set_ylabel("parts")
    ax1.set_ylim(0, 1.2 * max([b.inspected for b in f.buckets] + [1]))
    ax1.legend(loc="upper right", fontsize=8, ncols=2)
    ax1.grid(axis="y", alpha=0.3)
    rate = lambda n, b: 100 * n / b.inspected if b.inspected else float("nan")
    ax2.plot(x, [rate(b.rejected, b) for b in f.buckets], "o-", color=RED, label="reject rate")
    ax2.set_ylabel("reject rate (%)", color=RED)
    ax3 = ax2.twinx()
    ax3.plot(x, [rate(b.false_rejects, b) for b in f.buckets], "s--", color=ORANGE, label="false-reject rate (operator-confirmed)")
    ax3.set_ylabel("false-reject rate (%)", color=ORANGE)
    ax3.set_ylim(bottom=0)
    ax2.set_ylim(0, 1.3 * max([rate(b.rejected, b) for b in f.buckets if b.inspected] + [0.1]))
    ax3.set_ylim(0, 1.3 * max([rate(b.false_rejects, b) for b in f.buckets if b.inspected] + [0.01]))
    lines = ax2.get_lines() + ax3.get_lines()
    ax2.legend(lines, [l.get_label() for l in lines], loc="upper right", fontsize=8)
    _ticks(ax2, f)
    return fig


def stability_page(f: Figures) -> Figure:
    fig = _page("Availability, fail-safes and escapes", f)
    x, _, _ = _x(f)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    avail = [float("nan") if b.availability is None else 100 * b.availability for b in f.buckets]
    ax1.bar(x, avail, color=[GREEN if a >= 95 else ORANGE if a >= 80 else RED for a in avail])
    ax1.set_ylim(0, 115)
    ax1.set_ylabel("availability (%)")
    ax1.axhline(100 * (f.availability or 0), color=GREY, linestyle="--", label=f"period {pct(f.availability, 1)}")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.grid(axis="y", alpha=0.3)
    width = 0.4
    ax2.bar([i - width / 2 for i in x], [b.failsafes for b in f.buckets], width, color=ORANGE, label="fail-safe decisions")
    ax2.bar([i + width / 2 for i in x], [b.escapes for b in f.buckets], width, color=RED, label="escapes (audits)")
    ax2.set_ylabel("parts")
    ax2.set_ylim(0, 1.25 * max([b.failsafes for b in f.buckets] + [b.escapes for b in f.buckets] + [1]))
    ax2.legend(loc="upper right", fontsize=8, ncols=2)
    _ticks(ax2, f)
    longest = sorted(f.stops, key=lambda s: -s[1])[:5]
    if longest:
        text = "Longest stops: " + "; ".join(f"{when(t, f.period.timezone, '%d %H:%M')} {s / 60:.0f} min" for t, s in longest)
        fig.text(0.05, 0.015, text, fontsize=8, color=GREY)
    return fig


def latency_page(f: Figures) -> Figure:
    fig = _page("Latency and models", f)
    x, _, _ = _x(f)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    nan = float("nan")
    ax1.plot(x, [nan if b.latency_p50_ms is None else b.latency_p50_ms for b in f.buckets], "o-", color=BLUE, label="p50")
    ax1.plot(x, [nan if b.latency_p99_ms is None else b.latency_p99_ms for b in f.buckets], "^-", color=RED, label="p99")
    ax1.set_ylabel("trigger to PLC write (ms)")
    ax1.set_ylim(0, 1.25 * max([b.latency_p99_ms or 0 for b in f.buckets] + [1]))
    ax1.legend(loc="upper right", fontsize=8, ncols=2)
    ax1.grid(axis="y", alpha=0.3)
    starts = [b.start for b in f.buckets] + [f.period.end]
    def index_of(t: float) -> float:
        for i in range(len(f.buckets)):
            if starts[i] <= t < starts[i + 1]:
                return i - 0.5 + (t - starts[i]) / (starts[i + 1] - starts[i])
        return len(f.buckets) - 0.5
    for row, m in enumerate(f.models):
        lo, hi = index_of(m.first), index_of(m.last)
        ax2.barh(row, max(hi - lo, 0.05), left=lo, color=BLUE if row % 2 == 0 else GREEN, height=0.5)
        ax2.text(lo, row + 0.32, f"{m.version}: {m.parts:,} parts", fontsize=8)
    ax2.set_yticks([])
    ax2.set_ylim(-0.6, max(len(f.models), 1) - 0.2)
    ax2.set_title("model versions in use", fontsize=9)
    _ticks(ax2, f)
    ax2.set_xlim(-0.6, len(f.buckets) - 0.4)
    return fig


def stations_page(stations: list[Figures]) -> Figure:
    fig = _page("Stations compared", stations[0])
    ax = fig.add_axes([0.05, 0.1, 0.9, 0.8])
    ax.axis("off")
    header = ["Station", "Inspected", "Reject rate", "False-reject rate", "Escapes", "Fail-safes", "Availability", "p50 / p99", "Savings"]
    rows = [[s.station, f"{s.inspected:,}", pct(s.reject_rate), pct(s.false_reject_rate, 3), f"{s.escapes}", f"{s.failsafes}",
             pct(s.availability, 1), f"{ms(s.latency_p50_ms)} / {ms(s.latency_p99_ms)}", money(s.money.savings, s.money.currency)]
            for s in stations]
    table = ax.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.6)
    return fig


def pages(figures: list[Figures]) -> list[tuple[str, Figure]]:
    """(name, figure) of every page; ``figures[0]`` is the report's subject (all stations when several)."""
    f = figures[0]
    stations = figures[1:] if len(figures) > 1 else figures
    out = [("summary", summary_page(f, stations)), ("production", production_page(f)),
           ("stability", stability_page(f)), ("latency", latency_page(f))]
    if len(figures) > 1:
        out.append(("stations", stations_page(stations)))
    return out


# -- files -----------------------------------------------------------------------------------------
def write_pdf(rendered: list[tuple[str, Figure]], path: Path, title: str) -> None:
    with PdfPages(path, metadata={"Title": title, "Creator": "Inspector"}) as pdf:
        for _, fig in rendered:
            pdf.savefig(fig)


def _png(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_pngs(rendered: list[tuple[str, Figure]], folder: Path, stem: str, dpi: int = 80) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (name, fig) in enumerate(rendered, start=1):
        path = folder / f"{stem}-{i}-{name}.png"
        path.write_bytes(_png(fig, dpi))
        paths.append(path)
    return paths


def write_html(figures: list[Figures], rendered: list[tuple[str, Figure]], path: Path, title: str) -> None:
    f = figures[0]
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        ("<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}th{background:#dfe6ee}img{max-width:100%}</style>"),
        f"</head><body><h1>{esc(title)}</h1>",
        f"<p>Period: {esc(when(f.period.start, f.period.timezone))} to {esc(when(f.period.end, f.period.timezone))} ({esc(f.period.timezone)})</p>",
    ]
    for s in figures:
        parts.append(f"<h2>{esc(s.station)}</h2><table>")
        parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in key_figures(s)]
        parts.append("</table>")
        if s.models:
            parts.append("<h3>Model versions</h3><table><tr><th>version</th><th>parts</th><th>first part</th><th>last part</th></tr>")
            parts += [f"<tr><td>{esc(m.version)}</td><td>{m.parts:,}</td><td>{esc(when(m.first, s.period.timezone))}</td>"
                      f"<td>{esc(when(m.last, s.period.timezone))}</td></tr>" for m in s.models]
            parts.append("</table>")
        if s.alarm_codes:
            parts.append("<h3>Alarms</h3><table><tr><th>code</th><th>raised</th></tr>")
            parts += [f"<tr><td>{esc(c)}</td><td>{n}</td></tr>" for c, n in sorted(s.alarm_codes.items(), key=lambda kv: -kv[1])]
            parts.append("</table>")
    for name, fig in rendered[1:]:
        data = base64.b64encode(_png(fig)).decode()
        parts.append(f"<h2>{esc(name.capitalize())}</h2><img alt='{esc(name)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")

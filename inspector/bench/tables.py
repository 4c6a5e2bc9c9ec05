"""The Markdown tables the benchmark report and its sections share: percentiles of a latency, one row each."""

from __future__ import annotations

from typing import Any

PCT_HEADER = ["| | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | n |", "|---|---|---|---|---|---|---|"]


def pct_row(name: str, p: dict[str, Any]) -> str:
    """One row under :data:`PCT_HEADER`: ``p``'s percentiles (from :func:`~inspector.bench.stats.percentiles`)."""
    cells = [p.get(k) for k in ("p50", "p90", "p99", "p99.9", "max")]
    return f"| {name} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + f" | {p.get('count', '')} |"

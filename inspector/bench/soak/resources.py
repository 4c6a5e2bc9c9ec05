"""The soak's long-run figures: each process's memory, the log folder's size, Prometheus' totals against the records."""

from __future__ import annotations

from typing import Any

from inspector.bench.soak.observers import Sample, total

MONTH_H = 24 * 30


def rss_growth(samples: dict[str, list[tuple[float, int, int]]], t_warm: float, warmup_s: float, min_span_s: float,
               limit: float) -> dict[str, dict[str, Any]]:
    """Per process name: RSS after warm-up and at the end, and each instance's growth (a restart is a new instance).

    An instance is judged from its RSS ``warmup_s`` after it started (for those running at the soak's warm-up: at
    its end) to its last sample, if that stretch is at least ``min_span_s`` long."""
    out: dict[str, dict[str, Any]] = {}
    for name, rows in samples.items():
        by_pid: dict[int, list[tuple[float, int]]] = {}
        for t, pid, kb in rows:
            by_pid.setdefault(pid, []).append((t, kb))
        instances = []
        for pid, points in by_pid.items():
            first_t = points[0][0]
            from_t = t_warm if first_t <= t_warm else first_t + warmup_s
            base = next(((t, kb) for t, kb in points if t >= from_t), None)
            last = points[-1]
            entry: dict[str, Any] = {"pid": pid, "first_t": first_t, "last_t": last[0], "last_kb": last[1]}
            if base is not None and last[0] - base[0] >= min_span_s:
                entry.update(base_kb=base[1], span_s=round(last[0] - base[0]), growth=round(last[1] / base[1] - 1, 4))
            instances.append(entry)
        after_warm = [kb for t, _, kb in rows if t >= t_warm]
        judged = [i["growth"] for i in instances if "growth" in i]
        out[name] = {
            "start_kb": after_warm[0] if after_warm else None,
            "end_kb": rows[-1][2],
            "instances": len(instances),
            "judged": len(judged),
            "max_growth": max(judged) if judged else None,
            "ok": (max(judged) < limit) if judged else None,
            "per_instance": instances,
        }
    return out


def logs_bounded(start: dict[str, Any], end: dict[str, Any], hours: float, limit: int, month_limit: int) -> dict[str, Any]:
    growth_per_h = (end["total"] - start["total"]) / hours if hours > 0 else 0.0
    month = end["total"] + max(0.0, growth_per_h) * MONTH_H
    return {"start": start, "end": end, "growth_bytes_per_h": round(growth_per_h), "month_estimate_bytes": round(month),
            "limit_bytes": limit, "month_limit_bytes": month_limit, "ok": end["total"] <= limit and month <= month_limit}


# what each service counts, and which record says the same
COMPARED = (
    ("parts triggered (cameras) / part-seen rows in the actuator's journal (one per id)", "camera:", "inspector_service_events_total", {"event": "triggered"}, "journal_seen", True),
    ("decisions (actuator) / decided (journal)", "actuator", "inspector_service_events_total", {"event": "decisions"}, "journal_decided", True),
    ("PLC writes (actuator) / delivered (journal)", "actuator", "inspector_service_events_total", {"event": "plc_written"}, "journal_delivered", True),
    ("parts (recorder) / rows", "recorder", "inspector_parts_total", {}, "recorded", True),
    ("fail-safe decisions (recorder) / rows", "recorder", "inspector_failsafe_decisions_total", {}, "failsafe", True),
    ("PLC undelivered (recorder) / rows", "recorder", "inspector_plc_undelivered_total", {}, "undelivered", True),
    ("alarms raised (recorder) / alarm rows active", "recorder", "inspector_alarms_total", {}, "alarm_rows_active", False),
    ("alarm clearings (recorder) / alarm rows cleared", "recorder", "inspector_alarms_cleared_total", {}, "alarm_rows_cleared", False),
)


def metrics_vs_records(increase: dict[str, dict[Sample, float]], resets: dict[str, int], records: dict[str, int],
                       parts_per_scrape: float) -> list[dict[str, Any]]:
    """Prometheus' view (counters summed over restarts) against the records at the same moment.

    A service restarted between two scrapes takes what it counted since the last scrape with it (as it does from
    Prometheus): up to ``parts_per_scrape`` per restart for the part counters; the table says so."""
    out = []
    for what, endpoint, metric, labels, record, per_part in COMPARED:
        names = [n for n in increase if n == endpoint or (endpoint.endswith(":") and n.startswith(endpoint))]
        if not names:
            continue
        value = sum(total(increase[n], metric, **labels) for n in names)
        restarts = sum(resets.get(n, 0) for n in names)
        blind = restarts * parts_per_scrape if per_part else float(restarts * 50)
        diff = value - records.get(record, 0)
        out.append({"what": what, "metric": metric + (str(labels) if labels else ""), "prometheus": round(value),
                    "records": records.get(record, 0), "difference": round(diff), "restarts": restarts,
                    "explained_by_restarts": round(blind), "consistent": -blind - 2 <= diff <= 2})
    return out

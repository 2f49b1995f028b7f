"""The saga benchmark's figures per step, its targets, and its report and chart."""

from __future__ import annotations

import argparse
from typing import Any

from benchlib import RESULTS, provenance, render, rows_targets, verdict, write_reports
from charts import knee_chart
from saga_client import Sent

TARGET_RATE = 100.0  # orders/s accepted and CONFIRMED, sustained
LATENCY_RATE = 50.0  # the step whose latencies are held to targets
POST_P99_MS = 100.0
CONFIRMED_P99_MS = 250.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def step_figures(
    rate: float, seconds: float, sent: list[Sent], found: dict[str, dict], lines: int
) -> dict[str, Any]:
    accepted = [s for s in sent if s.status_code == 201]
    first = min(s.sent for s in sent)
    window = max(s.sent for s in sent) - first + 1 / rate
    ours = [(s, found[s.order_id]) for s in accepted if s.order_id in found]
    confirmed = [(s, o) for s, o in ours if o["status"] == "CONFIRMED"]
    last = max((o["updated"] for _, o in confirmed), default=first)
    errors = sorted({s.error for s in sent if s.error})
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "sent": len(sent),
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / window, 2),
        "confirmed": len(confirmed),
        "confirmed_per_s": round(len(confirmed) / max(last - first, window), 2),
        "rejected": sum(o["status"] == "REJECTED" for _, o in ours),
        "not_final": sum(o["status"] not in ("CONFIRMED", "REJECTED") for _, o in ours),
        "missing": len(accepted) - len(ours),
        "errors": len([s for s in sent if s.error]) + len(accepted) - len(ours),
        "error_kinds": errors[:5],
        "post_p50_ms": _ms(percentile([s.seconds for s in accepted], 50)),
        "post_p99_ms": _ms(percentile([s.seconds for s in accepted], 99)),
        "confirmed_p50_ms": _ms(percentile([o["updated"] - s.sent for s, o in confirmed], 50)),
        "confirmed_p99_ms": _ms(percentile([o["updated"] - s.sent for s, o in confirmed], 99)),
        "saga_p50_ms": _ms(percentile([o["updated"] - o["created"] for _, o in confirmed], 50)),
        "saga_p99_ms": _ms(percentile([o["updated"] - o["created"] for _, o in confirmed], 99)),
        "late_p99_ms": _ms(percentile([s.sent - s.due for s in sent], 99)),
        "units_confirmed": len(confirmed) * lines,
    }


def step_line(f: dict) -> str:
    return (
        f"{f['offered_per_s']:g}/s x {f['seconds']:g}s: accepted {f['accepted_per_s']}/s, "
        f"CONFIRMED {f['confirmed_per_s']}/s, errors {f['errors']}, POST p50/p99 "
        f"{f['post_p50_ms']}/{f['post_p99_ms']} ms, POST->CONFIRMED p50/p99 "
        f"{f['confirmed_p50_ms']}/{f['confirmed_p99_ms']} ms, "
        f"CPU {f['cpu']['all']['cores']} cores ({f['cpu']['all']['ms_per_order']} ms/order)"
    )


def backing_services(log: str) -> str:
    """What the runner chose, as it printed it (database, broker, cache)."""
    block = log.split("Platform backing services:\n", 1)[-1].split("Reach it", 1)[0]
    return ", ".join(" ".join(line.split()) for line in block.splitlines() if line.strip())


def bound(found: dict) -> dict[str, Any]:
    """The saga's bound from the ceilings and the per-order counts of the busiest step that
    kept up, and the saga's best CONFIRMED rate as a fraction of it."""
    runs = [*found["steps"], *([found["sustained"]] if found["sustained"] else [])]
    kept = [s for s in runs if s["kept_up"]]
    best = max(kept or runs, key=lambda s: s["confirmed_per_s"])
    pg, mq = found["ceilings"]["postgresql"], found["ceilings"]["rabbitmq"]
    per = best["per_order"]
    limits = {}
    if "commits_per_s" in pg and per["commits"]:
        limits["postgresql"] = pg["commits_per_s"] / per["commits"]
    if "messages_per_s" in mq and per["events"]:
        limits["rabbitmq"] = mq["messages_per_s"] / per["events"]
    if not limits:
        return {"best_per_s": best["confirmed_per_s"]}
    part, value = min(limits.items(), key=lambda item: item[1])
    return {
        "best_per_s": best["confirmed_per_s"],
        "bound_per_s": round(value, 1),
        "bound_by": part,
        "fraction": round(best["confirmed_per_s"] / value, 3),
    }


def targets(found: dict, stock_ok: bool) -> list[dict]:
    held = found["sustained"]
    half = next((s for s in found["steps"] if s["offered_per_s"] == LATENCY_RATE), None)
    rows = []
    if held is None:
        rows.append(verdict(f"sustained {TARGET_RATE:g}/s (not run: the knee is below half)",
                            0, f">= {TARGET_RATE:g}", False))  # fmt: skip
    else:
        sustain = f"{held['offered_per_s']:g}/s for {held['seconds']:g} s"
        rows += [
            verdict(f"accepted per second ({sustain})", held["accepted_per_s"],
                    f">= {TARGET_RATE:g}", held["accepted_per_s"] >= TARGET_RATE),
            verdict(f"CONFIRMED per second ({sustain})", held["confirmed_per_s"],
                    f">= {TARGET_RATE:g}", held["confirmed_per_s"] >= TARGET_RATE),
            verdict(f"errors ({sustain})", held["errors"], "0", held["errors"] == 0),
        ]  # fmt: skip
    if half:
        rows += [
            verdict("POST p99 at 50/s (ms)", half["post_p99_ms"] or 0, f"<= {POST_P99_MS:g}",
                    (half["post_p99_ms"] or 1e9) <= POST_P99_MS),
            verdict("POST -> CONFIRMED p99 at 50/s (ms)", half["confirmed_p99_ms"] or 0,
                    f"<= {CONFIRMED_P99_MS:g}",
                    (half["confirmed_p99_ms"] or 1e9) <= CONFIRMED_P99_MS),
        ]  # fmt: skip
    rows.append(verdict("units confirmed = stock taken", int(stock_ok), "1", stock_ok))
    return rows


STEP_COLUMNS = [
    ("offered/s", "offered_per_s"), ("s", "seconds"), ("accepted/s", "accepted_per_s"),
    ("CONFIRMED/s", "confirmed_per_s"), ("errors", "errors"), ("POST p50", "post_p50_ms"),
    ("POST p99", "post_p99_ms"), ("->CONFIRMED p50", "confirmed_p50_ms"),
    ("->CONFIRMED p99", "confirmed_p99_ms"), ("saga p50", "saga_p50_ms"),
    ("saga p99", "saga_p99_ms"), ("late p99", "late_p99_ms"), ("drain s", "drain_s"),
    ("kept up", "kept_up"),
]  # fmt: skip


def _runs(found: dict) -> list[tuple[str, dict]]:
    named = [(f"step {i + 1}", s) for i, s in enumerate(found["steps"])]
    return named + ([("sustained", found["sustained"])] if found["sustained"] else [])


def tables(found: dict, report_targets: list[dict]) -> list[tuple[str, list[list[str]]]]:
    runs = _runs(found)
    steps = [["run", *(title for title, _ in STEP_COLUMNS)]] + [
        [name, *(str(run[key]) for _, key in STEP_COLUMNS)] for name, run in runs
    ]
    groups = list(runs[-1][1]["cpu"])
    cores = [["group", *(name for name, _ in runs)]] + [
        [g, *(f"{run['cpu'].get(g, {}).get('cores', 0):.2f}" for _, run in runs)] for g in groups
    ]
    per_order = [["group", *(name for name, _ in runs)]] + [
        [g, *(str(run["cpu"].get(g, {}).get("ms_per_order")) for _, run in runs)] for g in groups
    ]
    per_order += [[f"({key} per order)", *(str(run["per_order"][key]) for _, run in runs)]
                  for key in ("commits", "events")]  # fmt: skip
    return [
        ("Targets", rows_targets({"targets": report_targets})),
        ("Steps (latencies in ms)", steps),
        ("CPU by process group (cores)", cores),
        ("CPU per CONFIRMED order (ms), and what each order cost the databases", per_order),
    ]


def publish(found: dict, args: argparse.Namespace, load: str, backing: str) -> None:
    units = sum(run["units_confirmed"] for _, run in _runs(found))
    stock_ok = units == found["stock_taken"]
    report_targets = targets(found, stock_ok)
    limit = bound(found)
    kept = [s["offered_per_s"] for s in found["steps"] if s["kept_up"]]
    meta = {
        **provenance(load),
        "backing_services": backing,
        "platform": "as `make up` runs it (gunicorn and Celery settings of the Procfile), "
        "HAProxy gateway, through the gateway",
        "orders": f"{args.lines} products x 1 unit, {args.buyers} buyers in turn, an "
        "Idempotency-Key each; outcomes read in bulk after each step (no per-order polling)",
        "knee": f"{max(kept):g}/s (highest step that kept up)" if kept else "no step kept up",
        "ceilings": f"PostgreSQL {found['ceilings']['postgresql']}; "
        f"RabbitMQ {found['ceilings']['rabbitmq']}",
        "bound": str(limit),
        "units": f"{units} confirmed, {found['stock_taken']} taken from stock",
        "notes": [
            "rate limits raised to 10,000,000/minute in the gateway's copy of kong.yml, and "
            "the services' throttles and orders' per-account limits raised (one client "
            "address, few buyers); counting still runs",
            "POST -> CONFIRMED: the order's updated_at minus when the client sent the POST; "
            "saga: updated_at - created_at (orders' own clock, the same machine)",
        ],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    chart = knee_chart(_runs(found), RESULTS / "order_saga-latest.png")
    text = render("Order saga: the knee", meta, tables(found, report_targets), markdown=True)
    text += f"\n![offered vs confirmed, latency per step]({chart.name})\n"
    print("\n" + render("Order saga: the knee", meta, tables(found, report_targets),
                        markdown=False))  # fmt: skip
    report = {"meta": meta, "args": vars(args), "targets": report_targets, **found}
    write_reports("order_saga", report, text)

"""benchlib's reports: a context block, tables as text (stdout) and Markdown, written under
infra/bench/results as ``<name>-<UTC time>.json`` / ``.md`` and ``<name>-latest.md``, and the
path of a chart beside them (infra/bench/charts.py draws it). Import these through benchlib.
"""

from __future__ import annotations

import json
import os
import platform as host
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "infra" / "bench" / "results"


def first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().split("\n")[0]


def loadavg() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def provenance(load: str) -> dict[str, str]:
    """When, which commit (and whether the tree had changes), which machine under what load."""
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", str(ROOT), "status", "--porcelain"])
    return {
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
        "machine": f"{os.cpu_count()} cores, {host.machine()}, load average before start {load}",
    }


def verdict(figure: str, value: float, target: str = "-", ok: bool | None = None) -> dict:
    outcome = "info" if ok is None else "PASS" if ok else "MISS"
    return {"figure": figure, "value": value, "target": target, "verdict": outcome}


def rows_targets(report: dict) -> list[list[str]]:
    return [["figure", "value", "target", "verdict"]] + [
        [t["figure"], f"{t['value']:g}", t["target"], t["verdict"]] for t in report["targets"]
    ]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * len(rows[0]), *lines[1:]])


def render(
    title: str, meta: dict, tables: list[tuple[str, list[list[str]]]], *, markdown: bool
) -> str:
    """The title, ``- key: value`` lines (``notes`` last, one line each), then the tables."""
    table = md_table if markdown else text_table
    out = [("# " if markdown else "") + title, ""]
    out += [f"- {key}: {value}" for key, value in meta.items() if key != "notes"]
    out += [f"- note: {note}" for note in meta.get("notes", [])]
    for heading, rows in tables:
        out += ["", f"## {heading}" if markdown else heading, "", table(rows)]
    return "\n".join(out) + "\n"


def chart_path(name: str) -> Path:
    """Where ``<name>-latest.png`` goes, beside the reports (results/ made if missing)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}-latest.png"


def write_reports(name: str, report: dict, markdown: str) -> list[Path]:
    """``<name>-<UTC time>.json`` and ``.md``, and ``<name>-latest.md``, in infra/bench/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [
        RESULTS / f"{name}-{stamp}.json",
        RESULTS / f"{name}-{stamp}.md",
        RESULTS / f"{name}-latest.md",
    ]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown)
    paths[2].write_text(markdown)
    for path in paths:
        print(f"wrote {path.relative_to(ROOT)}")
    return paths

"""infra/bench/charts.py draws the benchmarks' PNGs from their runs (here: synthetic ones)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "bench"))
from charts import knee_chart, series_chart

PNG = b"\x89PNG\r\n\x1a\n"


def run(offered: float, confirmed: float) -> dict[str, float | None]:
    return {
        "offered_per_s": offered,
        "accepted_per_s": offered,
        "confirmed_per_s": confirmed,
        "post_p50_ms": 12.0,
        "post_p99_ms": 40.0 * offered,
        "confirmed_p50_ms": 60.0,
        "confirmed_p99_ms": None if confirmed == 0 else 200.0 * offered,
    }


def test_the_knee_chart_is_a_png_of_the_steps(tmp_path: Path) -> None:
    runs = [("step 1", run(10, 10)), ("step 2", run(50, 49.5)), ("step 3", run(100, 0))]
    path = knee_chart(runs, tmp_path / "knee.png")
    assert path.read_bytes().startswith(PNG)
    assert path.stat().st_size > 20_000  # two panels drawn, not an empty canvas


def test_the_series_chart_is_a_png(tmp_path: Path) -> None:
    path = series_chart(
        [("direct", 900.0, 12.5), ("gateway", 800.0, 14.0)], tmp_path / "s.png", title="t"
    )
    assert path.read_bytes().startswith(PNG)
    assert path.stat().st_size > 10_000

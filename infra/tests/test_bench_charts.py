"""infra/bench/charts.py draws the benchmarks' PNGs from their runs (here: synthetic ones)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "bench"))
from charts import saga_chart, series_chart

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Order:
    sent: float
    answered: float
    final_seen: float
    status_code: int
    final_status: str
    server_seconds: float | None


def test_the_saga_chart_is_a_png_of_the_run(tmp_path: Path) -> None:
    orders = [
        Order(10 + i / 20, 10.03 + i / 20, 10.1 + i / 20, 201, "CONFIRMED", 0.05 + i / 2000)
        for i in range(200)
    ] + [Order(21, 21.02, 21.2, 201, "REJECTED", 0.15), Order(22, 22.01, 0, 422, "", None)]
    path = saga_chart(orders, tmp_path / "saga.png", title="test")
    assert path.read_bytes().startswith(PNG)
    assert path.stat().st_size > 20_000  # three panels drawn, not an empty canvas


def test_the_series_chart_is_a_png(tmp_path: Path) -> None:
    path = series_chart(
        [("direct", 900.0, 12.5), ("gateway", 800.0, 14.0)], tmp_path / "s.png", title="t"
    )
    assert path.read_bytes().startswith(PNG)
    assert path.stat().st_size > 10_000

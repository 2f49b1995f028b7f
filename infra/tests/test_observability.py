"""infra/observability/: the alert rules and the compose scrape configuration pass promtool,
the dashboards are the generator's output, and (after the README's walk, in test_readme.py)
every metric an alert or a panel names exists in a real scrape of the running platform."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import ROOT

OBSERVABILITY = ROOT / "infra" / "observability"
sys.path.insert(0, str(OBSERVABILITY))
import dashboards  # noqa: E402 - the generator, just made importable

PROMTOOL = shutil.which("promtool")
# What a PromQL expression holds besides metric names: functions, keywords, label names.
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRINGS = re.compile(r'"[^"]*"')
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[)])")
_FUNCTIONS = {"rate", "increase", "sum", "max", "min", "avg", "histogram_quantile", "count"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (every selector here ends in {, [ or ))."""
    bare = _STRINGS.sub('""', _GROUPING.sub("", expr))
    bare = re.sub(r"\{[^}]*\}", "{}", bare)  # label matchers
    return {name for name in _SELECTOR.findall(bare) if name not in _FUNCTIONS}


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in sorted((OBSERVABILITY / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found[f"{path.name}: {panel['title']}"] = target["expr"]
    return found


def scraped_names(text: str) -> set[str]:
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def scrape(urls: list[str]) -> set[str]:
    names: set[str] = set()
    for url in urls:
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, url
        names |= scraped_names(response.text)
    return names


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) missing")
@pytest.mark.parametrize(
    "command", [["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]]
)
def test_promtool_accepts_the_files(command: list[str]) -> None:
    run = subprocess.run(
        [PROMTOOL, *command], cwd=OBSERVABILITY, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_dashboards_are_the_generators_output() -> None:
    on_disk = {p.name: p.read_text() for p in (OBSERVABILITY / "dashboards").glob("*.json")}
    wanted = {name: dashboards.render(doc) for name, doc in dashboards.documents().items()}
    assert on_disk == wanted
    assert set(wanted) == {"users.json", "catalog.json", "orders.json", "saga.json", "gateway.json"}


def test_expressions_name_metrics() -> None:
    """The name extraction the system test relies on finds what each expression selects."""
    assert metric_names(alert_expressions()["OutboxBacklogOld"]) == {
        "outbox_oldest_unsent_age_seconds"
    }
    assert metric_names(alert_expressions()["GatewayHigh5xxRatio"]) == {"kong_http_requests_total"}
    assert metric_names("sum(kong_nginx_requests_total)") == {"kong_nginx_requests_total"}
    assert all(
        metric_names(e) for e in [*alert_expressions().values(), *dashboard_expressions().values()]
    )


def test_compose_targets_are_the_compose_services_metrics_ports() -> None:
    """Every web, every worker and the gateway is scraped, each on the port it serves its
    metrics on in infra/compose.yaml (web: gunicorn's 8000; worker: its CELERY_METRICS_PORT;
    Kong: its status listener)."""
    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())["services"]
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    webs = {name for name in compose if name.endswith("-web")}
    workers = {name for name in compose if name.endswith("-worker")}
    assert len(webs) == len(workers) == 3
    expected = {f"{web}:8000" for web in webs}
    expected |= {f"{w}:{compose[w]['environment']['CELERY_METRICS_PORT']}" for w in workers}
    expected.add("kong:" + compose["kong"]["environment"]["KONG_STATUS_LISTEN"].rsplit(":", 1)[1])
    assert targets == expected
    assert all("127.0.0.1:8000/readyz" in str(compose[web]["healthcheck"]["test"]) for web in webs)


def expected_names(path: Path | None = None) -> dict[str, set[str]]:
    return {
        where: metric_names(expr)
        for where, expr in {**alert_expressions(), **dashboard_expressions()}.items()
    }

"""Gateway overhead: one authenticated endpoint called directly and through the gateway.

What it measures: ``GET /api/v1/users/me`` with a user's access token, sent by ``wrk`` straight
to users-service (gunicorn) and through the gateway (HAProxy rendered from kong.yml), in
alternating rounds of one run. It reports the throughput and p50/p99 latency of both, their
ratio, the latency the gateway adds at one connection (a separate sequential measurement) and
the gateway's CPU time per request (utime+stime of the haproxy process from /proc, over the
requests wrk counted), each next to its target:

- through-gateway throughput at least 0.9x direct (under load: fixed connections, one wrk thread);
- under 0.5 ms added at p50, at one connection;
- under 80 us of gateway CPU per request (Kong's published figures work out to roughly
  120-160 us per request per vCPU);
- at most 1000 us of users-service CPU per request (its gunicorn master and workers, direct,
  under load), and where it goes: one more direct run with py-spy sampling the workers, the
  samples by stage of the request path (infra/bench/request_profile.py) scaled to that figure.

For scale it also runs, under load, a third target: HAProxy with the gateway's own ``global``
and ``defaults`` and no rules at all (``bare-haproxy``), i.e. what proxying alone costs on this
machine, and it reports the CPU every platform process (gunicorn, the runner relaying the logs, ...)
and everything else on the machine spent during each round.

How: it starts its own isolated platform with ``infra/local/runner.py up`` (temporary
PLATFORM_VAR, free ports for every service of the registry, its own database prefix, dropped at
the end: infra/bench/benchlib.py), registers a user and logs in through the gateway, and stops
the platform with Ctrl-C (SIGINT) even on error. The gateway is rendered from a copy of
gateway-config/kong.yml that differs only in the rate-limiting ``minute`` values (raised to
10,000,000): a load test from one address would otherwise hit the 600/minute limit. Rate-limit
counting still runs on every request. users-service's own per-IP auth throttles are raised, and
gunicorn's worker recycling is off (``--recycle`` keeps it): a worker reboot costs about a
second of CPU mid-round, on whichever target is running. Any response other than 2xx makes the
run fail. The endpoint measured is users-service's (the gateway's costs do not depend on the
service).

Run it (``make bench`` runs the bootstrap first):

    var/tools/bin/python infra/bench/gateway_overhead.py                 # 3 rounds x 10 s
    var/tools/bin/python infra/bench/gateway_overhead.py --rounds 1 --duration 3   # quick

Results: a table on stdout, and infra/bench/results/gateway_overhead-<UTC time>.json / .md
plus gateway_overhead-latest.md. This is a benchmark: nothing asserts the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import request_profile

import benchlib
from benchlib import (
    RAISED_LIMIT,
    BenchError,
    Load,
    answers,
    first_line,
    free_port,
    verdict,
)
from charts import series_chart

ENDPOINT = "/api/v1/users/me"
TOKEN_LIFETIME = 300  # users-service's access tokens (JWT_ACCESS_SECONDS default)
SERVICE_THROTTLE = "100000/min"  # users-service's own per-IP auth throttles, raised
TARGET_RATIO, TARGET_ADDED_P50_MS, TARGET_CPU_US = 0.9, 0.5, 80.0
TARGET_SERVICE_CPU_US = 1000.0  # users-service's gunicorn (master and workers), per request
KONG_NOTE = "Kong's published figures work out to roughly 120-160 us per request per vCPU"
RATE_NOTE = (
    f"rate limits raised to {RAISED_LIMIT:,}/minute for the measurement (counting still runs); "
    "jwt, correlation-id, size limit, cors and prometheus exactly as in kong.yml"
)
BARE_NOTE = (
    "bare-haproxy: the gateway's own global/defaults and upstream, no rules, its log to a "
    "file rather than through the runner: what proxying alone costs on this machine"
)
ENDPOINT_NOTE = (
    "the endpoint is users-service's GET /api/v1/users/me (a JWT check and one row): the "
    "gateway's cost shows against a small answer"
)


@dataclass
class Platform(benchlib.Platform):
    credentials: dict[str, str] = field(default_factory=dict)
    bare: subprocess.Popen | None = None  # HAProxy without rules, for scale
    urls: dict[str, str] = field(default_factory=dict)  # target -> base URL

    @property
    def users(self) -> str:
        return self.services["users"]


# --- tools and the isolated platform -----------------------------------------------------


def start_platform(var: Path, recycle: bool) -> Platform:
    throttles = {
        f"THROTTLE_{scope}": SERVICE_THROTTLE
        for scope in ("LOGIN", "LOGIN_ACCOUNT", "REGISTER", "REFRESH", "PASSWORD")
    }
    # gunicorn.conf.py recycles a worker every ~2000 requests; at a few hundred requests a
    # second each (re)boot costs about a second of CPU in the middle of a round, on whichever
    # target is running: noise unrelated to the gateway, off unless --recycle.
    recycling = {} if recycle else {"GUNICORN_CMD_ARGS": "--max-requests 0"}
    platform = benchlib.start_platform(var, {**throttles, **recycling}, kind=Platform)
    platform.urls = {"direct": platform.users, "gateway": platform.gateway}
    return platform


def start_bare_proxy(platform: Platform) -> None:
    """HAProxy with the rendered gateway's global/defaults and upstream, and no rules."""
    config = (platform.var / "gateway" / "haproxy.cfg").read_text()
    head = config.split("\nfrontend ", 1)[0]
    server = re.search(r"^    server .*$", config, re.M)
    if server is None:
        raise BenchError("no upstream server line in the rendered haproxy.cfg")
    port = free_port()
    bare = platform.var / "bare-haproxy.cfg"
    bare.write_text(
        f"{head}\nfrontend bare\n    bind 127.0.0.1:{port}\n"
        f"    default_backend bare\n\nbackend bare\n{server[0]}\n"
    )
    with (platform.var / "bare-haproxy.log").open("w") as out:
        platform.bare = subprocess.Popen(  # run as the gateway runs (Procfile.template)
            ["haproxy", "-dMglobal", "-db", "-f", str(bare)], stdout=out, stderr=subprocess.STDOUT
        )
    platform.urls["bare-haproxy"] = f"http://127.0.0.1:{port}"
    for _ in range(50):
        if platform.bare.poll() is None and answers(port):
            return
        time.sleep(0.1)
    raise BenchError(f"the bare HAProxy did not start: see {platform.var / 'bare-haproxy.log'}")


def wait_ready(platform: Platform) -> None:
    benchlib.wait_ready(platform)
    platform.seen |= set(process_tree(platform.process.pid))


def stop_platform(platform: Platform) -> None:
    """The bare HAProxy, then the platform (every pid of it seen is SIGKILLed if need be)."""
    if platform.bare is not None and platform.bare.poll() is None:
        platform.bare.terminate()
        platform.bare.wait(timeout=30)
    if platform.process.poll() is None:
        platform.seen |= set(process_tree(platform.process.pid))
    benchlib.stop_platform(platform)


# --- the user and its tokens -------------------------------------------------------------


def register(platform: Platform) -> None:
    """A fresh account, registered through the gateway as a client would."""
    platform.credentials = {
        "email": f"bench-{secrets.token_hex(4)}@example.com",
        "password": secrets.token_urlsafe(18),
    }
    answer = httpx.post(
        f"{platform.gateway}/api/v1/auth/register",
        timeout=10,
        json={**platform.credentials, "full_name": "Gateway Bench"},
    )
    if answer.status_code != 201:
        raise BenchError(f"register answered {answer.status_code}: {answer.text}")


def access_token(platform: Platform) -> str:
    """A new access token (they live 5 minutes): logged in through the gateway."""
    answer = httpx.post(
        f"{platform.gateway}/api/v1/auth/token", json=platform.credentials, timeout=10
    )
    if answer.status_code != 200:
        raise BenchError(f"login answered {answer.status_code}: {answer.text}")
    return answer.json()["access"]


def check_endpoint(platform: Platform) -> dict[str, str]:
    """One request each way: both must answer 200; the gateway's rate-limit headers kept."""
    headers = {"Authorization": f"Bearer {access_token(platform)}"}
    answers = {
        base: httpx.get(base + ENDPOINT, headers=headers, timeout=10)
        for base in (platform.users, platform.gateway)
    }
    for base, answer in answers.items():
        if answer.status_code != 200:
            raise BenchError(f"{base}{ENDPOINT} answered {answer.status_code}: {answer.text}")
    gateway = answers[platform.gateway].headers
    return {
        name: gateway.get(name, "-")
        for name in ("X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute", "X-Request-ID")
    }


# --- CPU accounting from /proc -----------------------------------------------------------


def process_tree(root: int) -> list[int]:
    return benchlib.descendants(benchlib.read_procs(), root)


def cpu_by_process(platform: Platform) -> dict[str, float]:
    """CPU seconds of the platform's processes by name (benchlib.cpu_by_process), the bare
    HAProxy's as haproxy-bare."""
    bare = {platform.bare.pid: "haproxy-bare"} if platform.bare is not None else {}
    return benchlib.cpu_by_process(platform.process.pid, bare)


# --- wrk ---------------------------------------------------------------------------------


def measure(platform: Platform, load: Load, target: str) -> dict:
    """One wrk run with the CPU each platform process and the whole machine spent during it."""
    token = access_token(platform)
    users_before = service_cpu(platform, "users")
    result, cpu = benchlib.wrk_cpu(
        load,
        platform.urls[target] + ENDPOINT,
        lambda: cpu_by_process(platform),
        [f"Authorization: Bearer {token}"],
    )
    result["cpu_s"] = {name: round(seconds, 3) for name, seconds in cpu.items()}
    result["users_cpu_s"] = round(service_cpu(platform, "users") - users_before, 3)
    result.update(target=target, connections=load.connections, duration_s=load.duration)
    return result


def run_series(
    platform: Platform, load: Load, rounds: int, targets: tuple[str, ...]
) -> dict[str, list[dict]]:
    """Rounds alternating the targets, the order rotated every round (AB, BA, ...)."""
    series: dict[str, list[dict]] = {target: [] for target in targets}
    for index in range(rounds):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            result = measure(platform, load, target)
            series[target].append(result)
            proxy = result["cpu_s"].get("haproxy", 0) + result["cpu_s"].get("haproxy-bare", 0)
            print(
                f"  round {index + 1}/{rounds} c={load.connections} {target:<12} "
                f"{result['rps']:7.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                f"p99 {result['p99_ms']:6.2f} ms  proxy CPU {proxy:.2f} s  "
                f"other load {result['other_load_cores']:.2f} cores",
                flush=True,
            )
    return series


# --- summary and reports -----------------------------------------------------------------


def summarize(runs: list[dict]) -> dict:
    """Medians over rounds; CPU per request summed over every round of the series."""
    requests = sum(run["requests"] for run in runs)
    names = sorted({name for run in runs for name in run["cpu_s"]})
    cpu = {name: sum(run["cpu_s"].get(name, 0.0) for run in runs) for name in names}
    return {
        **benchlib.latency_summary(runs),
        **benchlib.means(runs, {"machine_busy": 3, "other_load_cores": 2}),
        "cpu_us_per_request": {name: round(cpu[name] / requests * 1e6, 1) for name in names},
        "users_cpu_us_per_request": round(
            sum(run.get("users_cpu_s", 0.0) for run in runs) / requests * 1e6, 1
        ),
    }


def verdicts(load: dict, single: dict) -> list[dict]:
    """The three targets, then figures for scale (no target: "info")."""
    ratio = round(load["gateway"]["rps"] / load["direct"]["rps"], 3)
    added = {p: round(single["gateway"][p] - single["direct"][p], 3) for p in ("p50_ms", "p99_ms")}
    cpu_us = load["gateway"]["cpu_us_per_request"].get("haproxy", 0.0)
    rows = [
        verdict(
            "throughput through the gateway / direct, under load",
            ratio,
            f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO,
        ),
        verdict(
            "latency added at p50, one connection (ms)",
            added["p50_ms"],
            f"< {TARGET_ADDED_P50_MS}",
            added["p50_ms"] < TARGET_ADDED_P50_MS,
        ),
        verdict(
            "gateway (haproxy) CPU per request, under load (us)",
            cpu_us,
            f"< {TARGET_CPU_US:g}",
            cpu_us < TARGET_CPU_US,
        ),
        verdict("latency added at p99, one connection (ms)", added["p99_ms"]),
    ]
    return [*rows, service_verdict(load), *scale(load)]


def scale(load: dict) -> list[dict]:
    """What a HAProxy without any rule costs on the same machine, when it was measured."""
    if "bare-haproxy" not in load:
        return []
    bare = load["bare-haproxy"]
    return [
        verdict(
            "bare HAProxy (no rules) / direct throughput, under load",
            round(bare["rps"] / load["direct"]["rps"], 3),
        ),
        verdict(
            "bare HAProxy (no rules) CPU per request, under load (us)",
            bare["cpu_us_per_request"].get("haproxy-bare", 0.0),
        ),
    ]


def dropped_logs(platform: Platform) -> str:
    """Log lines HAProxy dropped because its stdout (the pipe the runner reads) was full."""
    try:
        metrics = httpx.get(platform.status, timeout=5).text
    except httpx.HTTPError as exc:
        return f"unknown ({exc})"
    found = re.search(r"^haproxy_process_dropped_logs_total (\d+)", metrics, re.M)
    return found[1] if found else "unknown"


def context(platform: Platform, args: argparse.Namespace, wrk: str) -> dict:
    log = re.sub(r"\x1b\[[0-9;]*m", "", platform.log.read_text(errors="replace"))
    choice = re.search(r"backing services: (.*)", log)
    cfg = (platform.var / "gateway" / "haproxy.cfg").read_text()
    return {
        **benchlib.provenance(args.loadavg),
        "backing_services": choice[1].strip() if choice else "unknown",
        "haproxy": first_line(["haproxy", "-v"]),
        "haproxy_global": ", ".join(re.findall(r"^    (nbthread \d+|log .*)$", cfg, re.M)),
        "gateway_log_lines_dropped": dropped_logs(platform),
        "wrk": first_line([wrk, "-v"]) + " (one thread)",
        "gunicorn": f"{os.environ.get('GUNICORN_WORKERS', '2')} sync workers, recycling "
        f"{'as gunicorn.conf.py sets it' if args.recycle else 'off (--max-requests 0)'}; "
        f"{log[args.log_offset :].count('Booting worker')} worker (re)boots during the rounds",
        "endpoint": f"GET {ENDPOINT} with a user's access token",
        "notes": [ENDPOINT_NOTE, RATE_NOTE, BARE_NOTE, KONG_NOTE],
    }


SERIES_HEADER = [
    "series",
    "target",
    "rounds",
    "requests",
    "req/s",
    "p50 ms",
    "p99 ms",
    "machine busy",
    "other load (cores)",
]


def rows_series(report: dict) -> list[list[str]]:
    rows = [SERIES_HEADER]
    for series, label in (("load", f"c={report['settings']['connections']}"), ("single", "c=1")):
        for target, s in report["summary"][series].items():
            figures = [f"{s['rps']:.1f}", f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}"]
            load = [f"{s['machine_busy']:.0%}", f"{s['other_load_cores']:.2f}"]
            rows.append([label, target, str(s["rounds"]), str(s["requests"]), *figures, *load])
    return rows


def rows_cpu(report: dict) -> list[list[str]]:
    load = report["summary"]["load"]
    per = {target: s["cpu_us_per_request"] for target, s in load.items()}
    names = sorted({name for cpu in per.values() for name in cpu})
    rows = [["process", *per, "gateway - direct"]]
    for name in [*names, "all"]:
        values = {
            t: sum(cpu.values()) if name == "all" else cpu.get(name, 0.0) for t, cpu in per.items()
        }
        rows.append(
            [
                name,
                *(f"{v:.1f}" for v in values.values()),
                f"{values['gateway'] - values['direct']:+.1f}",
            ]
        )
    return rows


# --- users-service's own CPU and where it goes (py-spy: infra/bench/request_profile.py) ---


def service_cpu(platform: Platform, service: str) -> float:
    """CPU seconds of the service's gunicorn (master and workers, reaped ones included):
    the platform's gunicorn processes whose working directory is the service's."""
    home = str(benchlib.ROOT / benchlib.SERVICES[service].dir)
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in service_pids(platform, home):
        with contextlib.suppress(OSError, ValueError):
            total += sum(int(v) for v in benchlib.stat_fields(pid)[11:15]) / tick
    return total


def service_pids(platform: Platform, home: str) -> list[int]:
    pids = []
    for pid in process_tree(platform.process.pid):
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{pid}/comm").read_text()
            if comm.startswith("gunicorn") and os.readlink(f"/proc/{pid}/cwd") == home:
                pids.append(pid)
    return pids


def service_verdict(load: dict) -> dict:
    cpu_us = load["direct"]["users_cpu_us_per_request"]
    return verdict(
        "users-service CPU per request (us), direct, under load",
        cpu_us,
        f"<= {TARGET_SERVICE_CPU_US:g}",
        cpu_us <= TARGET_SERVICE_CPU_US,
    )


def profile_users(platform: Platform, args: argparse.Namespace, cpu_us: float) -> dict:
    """One more direct run under load with py-spy sampling users-service's workers."""
    home = str(benchlib.ROOT / benchlib.SERVICES["users"].dir)
    load = Load(args.wrk, args.script, args.duration, args.connections)
    print(f"profile: {args.duration} s direct, py-spy on users-service's gunicorn", flush=True)
    _, counts, note = request_profile.profile(
        service_pids(platform, home), args.duration, lambda: measure(platform, load, "direct")
    )
    return {"samples": dict(counts), "cpu_us": cpu_us, "note": note}


def rows_profile(report: dict) -> list[list[str]]:
    profile = report.get("profile") or {}
    if not profile.get("samples"):
        return [["stage"], [profile.get("note") or "not profiled"]]
    return request_profile.breakdown(Counter(profile["samples"]), profile["cpu_us"])


TABLES = (
    ("Targets", benchlib.rows_targets),
    ("Load and latency (medians over rounds)", rows_series),
    ("CPU per request by process, under load (us; all rounds of each target)", rows_cpu),
    (
        "Where users-service's CPU per request goes (py-spy samples by stage, scaled to its "
        "CPU per request direct under load)",
        rows_profile,
    ),
)


def report_text(report: dict, *, markdown: bool) -> str:
    meta = {k: v for k, v in report["context"].items() if k != "endpoint"}
    tables = [(title, rows(report)) for title, rows in TABLES]
    title = f"Gateway overhead: {report['context']['endpoint']}"
    return benchlib.render(title, meta, tables, markdown=markdown)


# --- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per series (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=8, help="connections under load")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare HAProxy target")
    parser.add_argument(
        "--recycle", action="store_true", help="keep gunicorn's worker recycling (max_requests)"
    )
    parser.add_argument("--keep-var", action="store_true", help="keep the platform's var/")
    args = parser.parse_args()
    if not 1 <= args.duration <= TOKEN_LIFETIME - 60 or args.rounds < 1:
        parser.error(
            f"--duration must be 1..{TOKEN_LIFETIME - 60} (a token lives "
            f"{TOKEN_LIFETIME} s) and --rounds at least 1"
        )
    args.loadavg = benchlib.loadavg()
    return args


def setup(platform: Platform, args: argparse.Namespace) -> None:
    """Ready, a user, both targets answering 200, the bare proxy started, everything warm."""
    wait_ready(platform)
    register(platform)
    headers = check_endpoint(platform)
    print(f"both targets answer 200; gateway headers: {headers}", flush=True)
    if not args.no_bare:
        start_bare_proxy(platform)
    args.script = benchlib.wrk_script(platform.var)
    print(f"warm-up: {args.warmup} s per target", flush=True)
    for target in platform.urls:
        measure(platform, Load(args.wrk, args.script, args.warmup, args.connections), target)
    args.log_offset = len(platform.log.read_text(errors="replace"))


def benchmark(platform: Platform, args: argparse.Namespace) -> dict:
    setup(platform, args)
    targets = tuple(platform.urls)
    print(f"under load: {args.rounds} rounds x {len(targets)} targets x {args.duration} s")
    load = Load(args.wrk, args.script, args.duration, args.connections)
    loaded = run_series(platform, load, args.rounds, targets)
    print(f"one connection: {args.rounds} rounds x 2 targets x {args.duration} s", flush=True)
    single_load = Load(args.wrk, args.script, args.duration, 1)
    single = run_series(platform, single_load, args.rounds, ("direct", "gateway"))
    summary = {
        name: {t: summarize(runs) for t, runs in series.items()}
        for name, series in (("load", loaded), ("single", single))
    }
    settings = {key: getattr(args, key) for key in ("rounds", "duration", "warmup", "connections")}
    report = {
        "context": context(platform, args, args.wrk),
        "settings": {**settings, "wrk_threads": 1, "endpoint": ENDPOINT},
        "summary": summary,
        "runs": {"load": loaded, "single": single},
    }
    report["targets"] = verdicts(summary["load"], summary["single"])
    cpu_us = summary["load"]["direct"]["users_cpu_us_per_request"]
    report["profile"] = profile_users(platform, args, cpu_us)
    return report


def main() -> int:
    args = parse_args()
    args.wrk = benchlib.ensure_wrk()
    var = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    print(f"starting an isolated platform (log: {var / 'platform.log'})", flush=True)
    platform = start_platform(var, args.recycle)
    failed = True
    try:
        report = benchmark(platform, args)
        failed = False
    except (BenchError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        print(platform.log.read_text(errors="replace")[-3000:], file=sys.stderr)
    finally:
        stop_platform(platform)
        if failed or args.keep_var:
            print(f"the platform's files are kept in {var}", file=sys.stderr)
        else:
            shutil.rmtree(var, ignore_errors=True)
    if failed:
        return 1
    print("\n" + report_text(report, markdown=False))
    chart = series_chart(
        [
            (f"{target} ({'c=1' if name == 'single' else 'loaded'})", s["rps"], s["p99_ms"])
            for name, targets in report["summary"].items()
            for target, s in targets.items()
        ],
        benchlib.chart_path("gateway_overhead"),
        title=f"GET {ENDPOINT}: direct vs through the gateway (medians over rounds)",
    )
    markdown = report_text(report, markdown=True) + f"\n![throughput and p99]({chart.name})\n"
    benchlib.write_reports("gateway_overhead", report, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

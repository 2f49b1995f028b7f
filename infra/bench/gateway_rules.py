"""What each group of the gateway's rules costs: HAProxy CPU per request, rule group by group.

What it measures: ``GET /api/v1/users/me`` with a valid token, sent by ``wrk`` (one thread,
8 connections) to HAProxy rendered from gateway-config/kong.yml (rate limits raised, as in
gateway_overhead.py) in front of a static upstream (a second HAProxy answering 200 itself, so
no service's CPU is in the figure), in variants: the full configuration, the configuration
without one plugin or part (jwt, rate-limiting, correlation-id, opentelemetry's traceparent,
cors, request-size-limiting with its large buffers, Kong's response headers, prometheus, the
access log), and the gateway's own ``global``/``defaults`` with no rules at all (bare). The
cost of a part is full minus full-without-it; "rules" is full minus bare. Each variant runs
``--rounds`` times (interleaved); the minimum per variant is kept (the machine is shared:
noise only adds).

    var/tools/bin/python infra/bench/gateway_rules.py            # 3 rounds x 4 s
    var/tools/bin/python infra/bench/gateway_rules.py --rounds 1 --duration 2

HAProxy runs as the runner runs it (``-dMglobal``). Results: a table on stdout and
infra/bench/results/gateway_rules-<UTC time>.json / .md and gateway_rules-latest.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

import benchlib
from benchlib import KONG, ROOT, BenchError, Load, answers, free_port

sys.path.insert(0, str(ROOT / "gateway-config"))
from gateway import haproxy, kong

FLAGS = ("-dMglobal",)  # as infra/local/Procfile.template runs the gateway
Edit = Callable[[kong.Gateway], None]


def _no_jwt(g: kong.Gateway) -> None:
    g.routes = [dataclasses.replace(r, jwt=None) for r in g.routes]


def _no_rate_limit(g: kong.Gateway) -> None:
    g.routes = [dataclasses.replace(r, rate_limit=None) for r in g.routes]


def _no_correlation(g: kong.Gateway) -> None:
    g.correlation_header = None


def _no_trace_context(g: kong.Gateway) -> None:
    g.trace_context = False


def _no_cors(g: kong.Gateway) -> None:
    g.cors = None


def _no_size_limit(g: kong.Gateway) -> None:
    g.size_limit_bytes = None


def _no_prometheus(g: kong.Gateway) -> None:
    g.prometheus = False


def _no_log(text: str) -> str:
    return text.replace("    log global\n", "    no log\n")


def _no_kong_headers(text: str) -> str:
    kong_only = re.compile(r"X-Kong|Via|Server kong|txn\.proxied|X-Gateway-Error|set-status 502")
    return "\n".join(line for line in text.split("\n") if not kong_only.search(line))


def _bare(text: str, upstream: str) -> str:
    head = text.split("\nfrontend ", 1)[0]
    listen = re.search(r"^    bind (\S+)$", text, re.M)
    assert listen
    return (
        f"{head}\nfrontend bare\n    bind {listen[1]}\n    default_backend bare\n\n"
        f"backend bare\n    server bare {upstream} maxconn 200\n"
    )


VARIANTS: dict[str, tuple[Edit | None, Callable[[str], str] | None]] = {
    "full": (None, None),
    "without jwt": (_no_jwt, None),
    "without rate-limiting": (_no_rate_limit, None),
    "without correlation-id": (_no_correlation, None),
    "without opentelemetry (traceparent)": (_no_trace_context, None),
    "without cors": (_no_cors, None),
    "without request-size-limiting (and its buffers)": (_no_size_limit, None),
    "without Kong's response headers": (None, _no_kong_headers),
    "without prometheus (Kong's metrics)": (_no_prometheus, None),
    "without the access log": (None, _no_log),
    "bare (no rules)": (None, None),  # text built from full's head
}


@dataclasses.dataclass
class Setup:
    work: Path
    jwks: dict
    token: str
    port: int
    upstream: str


def setup(work: Path) -> Setup:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**jwk, "kid": "bench", "use": "sig", "alg": "RS256"}]}
    claims = {"sub": "1", "exp": int(time.time()) + 3600}
    token = pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    return Setup(work, jwks, token, free_port(), f"127.0.0.1:{free_port()}")


def config(s: Setup, name: str) -> str:
    edit, text_edit = VARIANTS[name]
    gateway = kong.parse(kong.load(KONG))
    gateway.credentials = kong.credentials_from_jwks(s.jwks)
    keys = s.work / "keys"
    keys.mkdir(exist_ok=True)
    for credential in gateway.credentials:
        (keys / f"{credential.key}.pem").write_text(credential.public_key_pem)
    gateway.routes = [
        dataclasses.replace(r, rate_limit=dataclasses.replace(r.rate_limit, limit=10**7))
        if r.rate_limit
        else r
        for r in gateway.routes
    ]
    if edit:
        edit(gateway)
    text = haproxy.render(
        gateway,
        listen=f"127.0.0.1:{s.port}",
        upstreams={service: s.upstream for service in gateway.services},
        keys_dir=keys,
        lua_file=haproxy.LUA_ERRORS,
    )
    if name.startswith("bare"):
        return _bare(text, s.upstream)
    return text_edit(text) if text_edit else text


def start(path: Path, port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        process = subprocess.Popen(
            ["haproxy", *FLAGS, "-db", "-f", str(path)], stdout=out, stderr=subprocess.STDOUT
        )
    for _ in range(100):
        if process.poll() is None and answers(port):
            return process
        time.sleep(0.05)
    raise BenchError(f"haproxy did not start: {log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    fields = benchlib.stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(s: Setup, name: str, load: Load) -> dict:
    path = s.work / "haproxy.cfg"
    path.write_text(config(s, name))
    process = start(path, s.port, s.work / "haproxy.log")
    try:
        url = f"http://127.0.0.1:{s.port}/api/v1/users/me"
        headers = [f"Authorization: Bearer {s.token}"]
        benchlib.run_wrk(dataclasses.replace(load, duration=1), url, headers)  # warm-up
        before = cpu_seconds(process.pid)
        result = benchlib.run_wrk(load, url, headers)
        used = cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"rps": result["rps"], "cpu_us": used / result["requests"] * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    args = parser.parse_args()
    load_before = benchlib.loadavg()
    wrk = benchlib.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="gateway-rules-") as tmp:
        work = Path(tmp)
        script = work / "count.lua"
        script.write_text(benchlib.WRK_SCRIPT)
        load = Load(wrk, script, args.duration, 8)
        s = setup(work)
        upstream_cfg = work / "upstream.cfg"
        upstream_cfg.write_text(
            "global\n    nbthread 1\ndefaults\n    mode http\n    timeout client 30s\n"
            "    timeout server 30s\n    timeout connect 5s\nfrontend up\n"
            f"    bind {s.upstream}\n"
            "    http-request return status 200 content-type application/json string '{\"id\":1}'\n"
        )
        upstream = start(upstream_cfg, int(s.upstream.rsplit(":", 1)[1]), work / "up.log")
        runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        try:
            for index in range(args.rounds):
                for name in VARIANTS:
                    run = measure(s, name, load)
                    runs[name].append(run)
                    print(
                        f"  round {index + 1}/{args.rounds} {name:<48} {run['rps']:8.0f} req/s"
                        f"  {run['cpu_us']:6.1f} us/request  (load {benchlib.loadavg()})",
                        flush=True,
                    )
        finally:
            upstream.terminate()
            upstream.wait(timeout=30)
    best = {name: min(r["cpu_us"] for r in rs) for name, rs in runs.items()}
    full, bare = best["full"], best["bare (no rules)"]
    rows = [["variant", "haproxy CPU us/request (min)", "part's cost (full - variant)"]]
    for name, value in best.items():
        cost = "-" if name == "full" else f"{full - value:+.1f}"
        rows.append([name, f"{value:.1f}", "rules: " + cost if name.startswith("bare") else cost])
    report = {
        **benchlib.provenance(load_before),
        "load_after": benchlib.loadavg(),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "runs": runs,
        "best_cpu_us": best,
        "rules_over_bare_us": round(full - bare, 1),
    }
    meta = {k: report[k] for k in ("finished_utc", "commit", "machine", "load_after", "rounds")}
    meta["notes"] = [
        "GET /api/v1/users/me with a valid RS256 token, wrk -t1 -c8, static upstream",
        "minimum over rounds per variant (a shared machine only adds noise)",
    ]
    title = "Gateway rules: HAProxy CPU per request by part"
    print(benchlib.render(title, meta, [("Variants", rows)], markdown=False))
    benchlib.write_reports(
        "gateway_rules", report, benchlib.render(title, meta, [("Variants", rows)], markdown=True)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

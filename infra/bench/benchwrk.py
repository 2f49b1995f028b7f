"""benchlib's wrk: runs with a non-2xx count, their parsing, CPU around them, summaries.

wrk runs one thread with a Lua script counting every non-2xx answer (wrk's own counter only
sees status >= 400); a run with any non-2xx or socket error fails the benchmark. ``wrk_cpu``
adds the CPU each process kind (a sampler's) and the whole machine spent during the run.
Import these through benchlib.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cpugroups import TICK


class BenchError(RuntimeError):
    """The benchmark cannot give a trustworthy figure (platform down, non-2xx, wrk failed)."""


# Counts every response that is not a 2xx (wrk's own counter only sees status >= 400).
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("non2xx %d\\n", total))
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    wrk: str
    script: Path
    duration: int
    connections: int


def ensure_wrk() -> str:
    """wrk's path; installs the Debian package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: apt-get install wrk (as root), then run again")
    print("installing wrk (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"env": env, "capture_output": True, "check": False}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
    return shutil.which("wrk") or sys.exit("could not install wrk (apt-get install wrk)")


def parse_wrk(text: str) -> dict:
    """Requests, requests/s, p50/p99 (ms), non-2xx (the script's count) and socket errors."""
    percentiles = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    requests = re.search(r"^\s+(\d+) requests in", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    non2xx = re.search(r"^non2xx (\d+)$", text, re.M)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if not (requests and rps and non2xx and set(percentiles) == {"50", "99"}):
        raise BenchError(f"cannot read wrk's output:\n{text}")
    return {
        "requests": int(requests[1]),
        "rps": float(rps[1]),
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "non2xx": int(non2xx[1]),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def run_wrk(load: Load, url: str, headers: Iterable[str] = ()) -> dict:
    """One wrk run (one thread); fails on any non-2xx answer or socket error."""
    command = [load.wrk, "-t1", f"-c{load.connections}", f"-d{load.duration}s", "--latency"]
    command += ["-s", str(load.script), *(a for h in headers for a in ("-H", h)), url]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=load.duration + 60
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk(done.stdout)
    if result["non2xx"] or result["socket_errors"]:
        raise BenchError(
            f"{url}: {result['non2xx']} non-2xx responses and "
            f"{result['socket_errors']} socket errors: figures not trustworthy\n{done.stdout}"
        )
    return result


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every core, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def wrk_script(directory: Path) -> Path:
    """``WRK_SCRIPT`` written to ``directory``/count-non2xx.lua."""
    script = directory / "count-non2xx.lua"
    script.write_text(WRK_SCRIPT)
    return script


def wrk_cpu(
    load: Load, url: str, sample: Callable[[], dict[str, float]], headers: Iterable[str] = ()
) -> tuple[dict, dict[str, float]]:
    """``run_wrk`` and the CPU seconds by name ``sample`` counts during it (``wrk``: this
    process's waited-for children, added), with the machine's share busy and the CPU of
    everything else on it, in cores (other users, the kernel's threads), in the result."""
    cpu_before, machine_before = with_wrk(sample()), machine_ticks()
    result = run_wrk(load, url, headers)
    cpu_after, machine_after = with_wrk(sample()), machine_ticks()
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    busy, total = (a - b for a, b in zip(machine_after, machine_before, strict=True))
    result["machine_busy"] = round(busy / total, 3) if total else 0.0
    foreign = busy / TICK - sum(cpu.values())
    result["other_load_cores"] = round(max(foreign, 0.0) / load.duration, 2)
    return result, cpu


def with_wrk(seconds: dict[str, float]) -> dict[str, float]:
    wrk = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk: this script's waited children
    return {**seconds, "wrk": wrk.ru_utime + wrk.ru_stime}


def means(runs: list[dict], digits: Mapping[str, int]) -> dict[str, float]:
    """Means over runs of the keys of ``digits``, rounded to their number of digits."""
    return {
        key: round(statistics.mean(run[key] for run in runs), places)
        for key, places in digits.items()
    }


def latency_summary(runs: list[dict]) -> dict:
    """Medians over rounds of one target's wrk runs (the rest of a summary is the bench's)."""
    return {
        "rounds": len(runs),
        "requests": sum(run["requests"] for run in runs),
        "rps": round(statistics.median(run["rps"] for run in runs), 1),
        "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 3),
        "p99_ms": round(statistics.median(run["p99_ms"] for run in runs), 3),
    }

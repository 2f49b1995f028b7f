"""CPU time of processes from /proc, by process, by kind and by platform group (benchlib's).

A snapshot (``read_procs``) holds, for every process on the machine, its parent, start time,
command name, command line, working directory and CPU ticks: its own (utime+stime, every
thread included) and its waited-for children's (cutime+cstime). ``classify`` names the group
of each process of interest (``Groups``), ``cpu_between`` turns two snapshots into CPU seconds
and cores per group, and ``CpuSampler`` does it for a long run in the background.

Processes come and go during a window; the rules of ``cpu_between``:

- a process in both snapshots (same pid and start time) counts what it spent in between, its
  own and that of children it reaped in between (cutime), in its group of the later snapshot;
- a process started in between counts all it spent (own and reaped children's);
- a process gone by the later snapshot counts through its reaper's cutime when the reaper is
  in the later snapshot and in a group (what it spent before the window is taken off there);
  otherwise what it spent between its last snapshot and its exit is lost (sample more often).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # ticks after boot: tells a reused pid from the process it had before
    comm: str
    cmdline: str  # arguments joined by spaces
    cwd: str
    ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime: children waited for

    @property
    def total(self) -> int:
        return self.ticks + self.child_ticks


def stat_fields(pid: int, proc: Path = PROC) -> list[str]:
    """/proc/<pid>/stat after the command name: [1] ppid, [11:15] utime stime cutime cstime,
    [19] starttime."""
    text = (proc / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def parse_proc(pid: int, stat: str, cmdline: bytes, cwd: str) -> Proc:
    """A process from the text of /proc/<pid>/stat, /proc/<pid>/cmdline and its cwd link."""
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        start=int(fields[19]),
        comm=comm,
        cmdline=cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
        cwd=cwd,
        ticks=int(fields[11]) + int(fields[12]),
        child_ticks=int(fields[13]) + int(fields[14]),
    )


def read_procs(proc: Path = PROC) -> dict[int, Proc]:
    """Every process that can be read now (others' working directories may be hidden: "")."""
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        found[int(entry.name)] = parse_proc(int(entry.name), stat, cmdline, cwd)
    return found


def descendants(procs: Mapping[int, Proc], root: int) -> list[int]:
    """``root`` and every process under it (root first), of those in ``procs``."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


# --- groups of a platform ------------------------------------------------------------------

PG_DATABASE = re.compile(r"^postgres: (?:[^:]+: )?\S+ (\S+) ")  # "postgres: 15/main: user db ..."


@dataclass
class Groups:
    """Which processes belong to which group.

    - the platform: ``platform`` (the runner's pid: the supervisor, relaying the logs) and its
      tree: ``gateway`` (haproxy), ``<service>-web`` (gunicorn master and workers),
      ``<service>-worker`` (celery worker and its pool), ``<service>-beat``, ``mail`` (the
      SMTP sink), ``supervisor`` (the runner), ``other`` (anything else in it); the service
      from the process's working directory or command line (``services``: directory -> name);
    - ``postgres``: every PostgreSQL process, or with ``pg_prefix`` only the backends of
      databases whose name starts with it (from their process titles) or listed in
      ``pg_pids`` (pg_stat_activity's, e.g. benchlib.pg_backend_pids);
    - ``rabbitmq``: the server's beam.smp and its children (not rabbitmqctl's, an escript);
    - ``client``: ``client`` (the benchmark's own process, every thread) and its children
      outside the platform (wrk);
    - ``labelled``: pid -> group for processes started by hand (a second proxy), tree included.
    """

    platform: int
    client: int
    services: Mapping[str, str]
    pg_prefix: str | None = None
    pg_pids: frozenset[int] = frozenset()
    labelled: Mapping[int, str] = field(default_factory=dict)


def platform_group(proc: Proc, services: Mapping[str, str]) -> str:
    """The group of a process of the platform's tree (not the runner itself)."""
    words = proc.cmdline.split()
    if proc.comm == "haproxy" or any(Path(w).name == "haproxy" for w in words[:1]):
        return "gateway"
    if "mailsink.py" in proc.cmdline:
        return "mail"
    service = next(
        (
            name
            for directory, name in services.items()
            if Path(proc.cwd).name == directory or f"/{directory}/" in proc.cmdline
        ),
        None,
    )
    if service and "gunicorn" in proc.cmdline:  # master and workers (titled or not)
        return f"{service}-web"
    if service and "celery" in proc.cmdline:  # the worker, its pool's children, or beat
        return f"{service}-beat" if "beat" in words else f"{service}-worker"
    return "other"


def postgres_member(proc: Proc, groups: Groups) -> bool:
    if proc.comm != "postgres" and not proc.cmdline.startswith("postgres"):
        return False
    if groups.pg_prefix is None or proc.pid in groups.pg_pids:
        return True
    database = PG_DATABASE.match(proc.cmdline)
    return bool(database and database[1].startswith(groups.pg_prefix))


def classify(procs: Mapping[int, Proc], groups: Groups) -> dict[int, str]:
    """pid -> group, for the processes of ``procs`` that belong to one."""
    found: dict[int, str] = {}
    for pid, label in groups.labelled.items():
        found |= dict.fromkeys(descendants(procs, pid), label) if pid in procs else {}
    if groups.platform in procs:
        tree = descendants(procs, groups.platform)
        found[groups.platform] = "supervisor"
        for pid in tree[1:]:
            found.setdefault(pid, platform_group(procs[pid], groups.services))
    for proc in procs.values():
        if proc.pid in found:
            continue
        if postgres_member(proc, groups):
            found[proc.pid] = "postgres"
        elif proc.comm == "beam.smp" and "escript" not in proc.cmdline:  # not rabbitmqctl's
            found |= dict.fromkeys(descendants(procs, proc.pid), "rabbitmq")
    if groups.client in procs:
        for pid in descendants(procs, groups.client):
            found.setdefault(pid, "client")
    return found


@dataclass
class Snapshot:
    at: float  # time.monotonic()
    procs: dict[int, Proc]
    groups: dict[int, str]  # pid -> group


def snapshot(groups: Groups, proc: Path = PROC) -> Snapshot:
    procs = read_procs(proc)
    return Snapshot(time.monotonic(), procs, classify(procs, groups))


def ticks_between(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Ticks each group spent between the snapshots (the rules in the module's docstring)."""
    spent: dict[str, int] = {}
    for pid, group in after.groups.items():
        now, then = after.procs[pid], before.procs.get(pid)
        same = then is not None and then.start == now.start
        spent[group] = spent.get(group, 0) + now.total - (then.total if same and then else 0)
    for pid, gone in before.procs.items():
        still = after.procs.get(pid)
        if still is not None and still.start == gone.start:
            continue
        reaper = after.procs.get(gone.ppid)
        parent = before.procs.get(gone.ppid)
        if reaper is None or parent is None or reaper.start != parent.start:
            continue
        group = after.groups.get(gone.ppid)
        if group is not None:
            spent[group] = spent.get(group, 0) - gone.total  # its reaper's cutime has it all
    return spent


def cpu_between(before: Snapshot, after: Snapshot, tick: int = TICK) -> dict[str, dict]:
    """group -> {"cpu_s": CPU seconds, "cores": CPU seconds per second of the window}."""
    return figures(ticks_between(before, after), after.at - before.at, tick)


def figures(ticks: Mapping[str, int], window: float, tick: int = TICK) -> dict[str, dict]:
    return {
        group: {
            "cpu_s": round(spent / tick, 3),
            "cores": round(spent / tick / window, 3) if window > 0 else 0.0,
        }
        for group, spent in sorted(ticks.items())
    }


class CpuSampler:
    """CPU by group over a long window, sampled every ``interval`` seconds in a thread (a
    short-lived process whose reaper is outside every group, a PostgreSQL backend, is then
    lost for less than an interval). ``start()``, then ``stop()`` -> ``cpu_between``'s
    figures over the whole window; the sampling's own CPU counts in ``client``. Stop it
    before the platform: the runner, reaped by the client, would bring every platform
    process's time into the client's cutime."""

    def __init__(self, groups: Groups, interval: float = 1.0) -> None:
        self.groups, self.interval = groups, interval
        self.ticks: dict[str, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> CpuSampler:
        self.first = self.last = snapshot(self.groups)
        self._thread.start()
        return self

    def _sample(self) -> None:
        current = snapshot(self.groups)
        for group, ticks in ticks_between(self.last, current).items():
            self.ticks[group] = self.ticks.get(group, 0) + ticks
        self.last = current

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, dict]:
        self._done.set()
        self._thread.join()
        self._sample()
        return figures(self.ticks, self.last.at - self.first.at)


# --- simpler accountings (the benchmarks' own tables) --------------------------------------


def cpu_by_process(root: int, labelled: Mapping[int, str] = {}) -> dict[str, float]:
    """CPU seconds so far of ``root``'s tree by command name, and of ``labelled`` pids under
    their label; reaped children count in their parent (cutime/cstime), so a recycled gunicorn
    worker's time stays with gunicorn."""
    procs = read_procs()
    seconds: dict[str, float] = {}
    named = [(pid, "") for pid in descendants(procs, root)] + list(labelled.items())
    for pid, label in named:
        if pid in procs:
            name = label or procs[pid].comm.split(":")[0].strip()
            seconds[name] = seconds.get(name, 0.0) + procs[pid].total / TICK
    return seconds


def cpu_by_kind(trees: Mapping[str, Iterable[int]], pids: Mapping[str, set[int]]) -> dict:
    """CPU seconds so far (utime+stime, no reaped children) of each kind: ``trees``, the
    processes under the roots given (roots included); ``pids``, the processes listed."""
    procs = read_procs()
    seconds = {kind: 0.0 for kind in [*trees, *pids]}
    for kind, roots in trees.items():
        members = {pid for root in roots for pid in descendants(procs, root)}
        seconds[kind] += sum(procs[pid].ticks for pid in members if pid in procs) / TICK
    for kind, listed in pids.items():
        seconds[kind] += sum(procs[pid].ticks for pid in listed if pid in procs) / TICK
    return seconds

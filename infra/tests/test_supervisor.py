"""The local runner's supervisor (infra/local/supervise.py) with real processes: a crashing
process is restarted and, after repeated crashes, given up with its last lines shown while the
others keep running; a stop ends every process, killing and naming one that ignores SIGTERM."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EVENTUALLY, REGISTRY, ROOT, eventually

sys.path.insert(0, str(ROOT / "infra" / "local"))
from procfile import write_procfile
from registry import Service
from supervise import Supervisor, read_procfile


class Output(io.RawIOBase):
    """A thread-safe byte sink standing in for the terminal."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        with self.lock:
            self.data += chunk
        return len(chunk)

    def text(self) -> str:
        with self.lock:
            return self.data.decode(errors="replace")


class Running:
    def __init__(self, supervisor: Supervisor, output: Output) -> None:
        self.supervisor = supervisor
        self.output = output
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.supervisor.run()

    def stop(self) -> int:
        self.supervisor.request_stop()
        self.thread.join(timeout=EVENTUALLY)
        assert not self.thread.is_alive(), self.output.text()
        assert self.code is not None
        return self.code

    def lines(self, name: str) -> list[str]:
        return [
            line.split(" | ", 1)[1]
            for line in self.output.text().splitlines()
            if line[9:].split(" ", 1)[0] == name
        ]


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator:
    started: list[Running] = []

    def start(processes: list[tuple[str, str]], **options: float) -> Running:
        output = Output()
        # Signal handlers belong to the main thread: run() is driven from a thread here, and
        # request_stop() stands in for the SIGTERM that `make down` sends.
        supervisor = Supervisor(
            processes,
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
            out=output,
            handle_signals=False,
            **options,
        )
        running = Running(supervisor, output)
        running.thread.start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


def test_a_crashing_process_is_restarted_then_given_up_with_its_last_lines(supervise) -> None:
    running = supervise(
        [
            ("steady", "echo steady up; exec sleep 600"),
            ("crasher", "echo attempt; echo 'boom: cannot read message' >&2; exit 3"),
        ],
        max_restarts=3,
        window=600,
        max_backoff=0.2,
    )
    eventually(lambda: "given up" in running.output.text(), "the crasher was never given up")
    supervisor_lines = running.lines("supervisor")
    assert [line for line in supervisor_lines if "exited unexpectedly" in line] == [
        "crasher exited unexpectedly (exit code 3); restarting it in 0 s (crash 1 of 3 "
        "allowed within 600 s)",
        "crasher exited unexpectedly (exit code 3); restarting it in 0 s (crash 2 of 3 "
        "allowed within 600 s)",
    ]
    assert running.lines("crasher").count("attempt") == 3
    text = running.output.text()
    assert "crasher exited 3 times within 600 s (last exit code 3): given up" in text
    assert "    boom: cannot read message" in text  # its last lines, shown with the notice
    assert running.lines("steady") == ["steady up"]  # the others keep running

    assert running.stop() == 1  # the platform ran degraded: its exit code says so
    assert "given up earlier: crasher" in running.output.text()


def test_a_line_cut_across_writes_and_the_unfinished_last_line_are_relayed_whole(
    supervise,
) -> None:
    running = supervise(
        [("half", "printf 'one\\ntwo\\nthr'; sleep 0.3; printf 'ee\\nfo\\377r'; exit 0")],
        max_restarts=1,
    )
    eventually(lambda: "given up" in running.output.text(), "the process was never given up")
    assert running.lines("half") == ["one", "two", "three", "fo\ufffdr"]
    assert running.output.data.count(b"half       | fo\xffr\n") == 1  # relayed as written
    assert "    three\n    fo\ufffdr" in running.output.text()
    assert running.stop() == 1


def test_stop_ends_every_process_on_sigterm_and_exits_0(supervise, tmp_path: Path) -> None:
    marker = tmp_path / "cleaned-up"
    running = supervise(
        [
            ("web", "echo serving; exec sleep 600"),
            (
                "worker",
                f"trap 'echo warm shutdown; touch {marker}; exit 0' TERM; "
                "echo ready; sleep 600 & wait",
            ),
        ],
        grace=EVENTUALLY,
    )
    eventually(lambda: running.lines("worker") == ["ready"], "the worker never started")
    assert running.stop() == 0
    assert running.lines("worker") == ["ready", "warm shutdown"]
    assert marker.exists()
    assert running.lines("supervisor")[-1] == "every process stopped on SIGTERM"


def test_sigterm_goes_to_the_process_which_stops_its_own_children(
    supervise, tmp_path: Path
) -> None:
    """Celery's warm shutdown: SIGTERM to the main process lets its pool finish the task at
    hand; a SIGTERM to the whole group killed the pool mid-task, and a main process left
    waiting for it was once SIGKILLed after the grace period (seen on a busy machine)."""
    child = tmp_path / "pool.sh"
    child.write_text(
        "trap 'echo pool asked to stop; exit 0' USR1\n"
        "trap 'echo pool got SIGTERM; exit 0' TERM\n"
        "echo ready\n"
        "while :; do sleep 0.1; done\n"
    )
    running = supervise(
        [
            (
                "worker",
                f"sh {child} & pool=$!; "
                "trap 'echo main got SIGTERM; kill -USR1 $pool; wait $pool; exit 0' TERM; "
                "wait",
            )
        ],
        grace=EVENTUALLY,
    )
    eventually(lambda: running.lines("worker") == ["ready"], "the pool never started")
    assert running.stop() == 0
    assert running.lines("worker") == ["ready", "main got SIGTERM", "pool asked to stop"]


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period_and_named(
    supervise,
) -> None:
    running = supervise(
        [
            ("polite", "exec sleep 600"),
            ("stubborn", "trap '' TERM; echo ignoring; while :; do sleep 0.1; done"),
        ],
        grace=1,
    )
    eventually(lambda: running.lines("stubborn") == ["ignoring"], "stubborn never started")
    assert running.stop() == 1
    assert "still running after 1 s, killed (SIGKILL): stubborn" in running.output.text()


def test_the_procfile_names_one_beat_per_service_and_no_worker_runs_beat(tmp_path: Path) -> None:
    processes = dict(read_procfile(write_procfile(tmp_path, REGISTRY.values())))
    kinds = ("web", "worker", "beat")
    assert list(processes) == [f"{s}-{kind}" for s in REGISTRY for kind in kinds] + [
        "mail",
        "gateway",
    ]
    for service in REGISTRY:
        assert " beat " in processes[f"{service}-beat"]
        assert "--beat" not in processes[f"{service}-worker"]
        assert f"$VAR_DIR/celerybeat-{service}" in processes[f"{service}-beat"]


def test_the_procfile_gives_a_new_service_its_own_directory_variables_and_node(
    tmp_path: Path,
) -> None:
    payments = Service("payments", "payments-service", 8104, "/api/v1/payments/", (), (), (), 5)
    processes = dict(read_procfile(write_procfile(tmp_path, [payments])))
    own = (
        'cd payments-service && exec env SECRET_KEY="$PAYMENTS_SECRET_KEY" '
        'DATABASE_URL="$PAYMENTS_DATABASE_URL" CELERY_BROKER_URL="$PAYMENTS_BROKER_URL" '
        'JWT_KEYS_DIR="$PAYMENTS_JWT_KEYS_DIR" PROMETHEUS_MULTIPROC_DIR="$PAYMENTS_METRICS_DIR" '
        ".venv/bin/"
    )
    assert processes == {
        "payments-web": own + 'gunicorn -c gunicorn.conf.py --bind "127.0.0.1:$PAYMENTS_PORT" '
        "config.wsgi",
        "payments-worker": own + 'celery -A config worker --hostname "payments.$PLATFORM_ID@%h" '
        "--concurrency 2 --loglevel INFO",
        "payments-beat": own + 'celery -A config beat --schedule "$VAR_DIR/celerybeat-payments" '
        "--loglevel INFO",
        "mail": 'exec python infra/local/mailsink.py --port "$SMTP_PORT" --dir "$VAR_DIR/mail"',
        "gateway": 'mkdir -p "$VAR_DIR/log" && exec haproxy -dMglobal -db '
        '-f "$VAR_DIR/gateway/haproxy.cfg" >> "$VAR_DIR/log/gateway-access.log"',
    }


def test_the_procfile_scales_web_and_worker_but_never_beat(tmp_path: Path) -> None:
    """`make up SCALE="orders=3"`: three web processes on their own port variables, three
    workers with their own Celery node names, one beat; other services unscaled."""
    processes = dict(read_procfile(write_procfile(tmp_path, REGISTRY.values(), {"orders": 3})))
    orders = [name for name in processes if name.startswith("orders-")]
    assert orders == [
        "orders-web",
        "orders-web-2",
        "orders-web-3",
        "orders-worker",
        "orders-worker-2",
        "orders-worker-3",
        "orders-beat",
    ]
    for suffix, port in (("", "$ORDERS_PORT"), ("-2", "$ORDERS_PORT_2"), ("-3", "$ORDERS_PORT_3")):
        assert f'--bind "127.0.0.1:{port}" ' in processes[f"orders-web{suffix}"]
    nodes = [
        processes[f"orders-worker{suffix}"].split("--hostname ")[1].split()[0]
        for suffix in ("", "-2", "-3")
    ]
    assert nodes == [
        '"orders.$PLATFORM_ID@%h"',
        '"orders.$PLATFORM_ID.2@%h"',
        '"orders.$PLATFORM_ID.3@%h"',
    ]
    others = [name for name in processes if not name.startswith("orders-")]
    kinds = ("web", "worker", "beat")
    assert others == [f"{s}-{k}" for s in REGISTRY if s != "orders" for k in kinds] + [
        "mail",
        "gateway",
    ]


@pytest.mark.parametrize(
    ("scale", "wanted"),
    [
        ("", {"users": 1, "catalog": 1, "orders": 1}),
        ("orders=3 catalog=2", {"users": 1, "catalog": 2, "orders": 3}),
        ("orders=3,users=16", {"users": 16, "catalog": 1, "orders": 3}),
    ],
)
def test_scale_names_instances_per_service(
    monkeypatch: pytest.MonkeyPatch, scale: str, wanted: dict[str, int]
) -> None:
    import runner

    monkeypatch.setenv("SCALE", scale)
    assert runner.scale_wanted() == wanted


@pytest.mark.parametrize("scale", ["payments=2", "orders=0", "orders=17", "orders=two", "orders"])
def test_scale_refuses_what_it_cannot_run(monkeypatch: pytest.MonkeyPatch, scale: str) -> None:
    import runner

    monkeypatch.setenv("SCALE", scale)
    with pytest.raises(SystemExit, match=f"SCALE: '{scale}' is not <service>=<1-16>"):
        runner.scale_wanted()


def test_scale_out_refuses_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Several processes on one SQLite file and the filesystem broker: not what runs in
    production, so not what a scale-out test should prove."""
    import runner

    monkeypatch.setenv("PLATFORM_EMBEDDED", "1")
    monkeypatch.setattr(runner, "VAR", tmp_path)
    env = runner.platform_env()
    with pytest.raises(SystemExit, match="SCALE needs PostgreSQL and RabbitMQ"):
        runner.scale_out(env, {"users": 1, "catalog": 1, "orders": 2})
    runner.scale_out(env, {"users": 1, "catalog": 1, "orders": 1})  # unscaled: fine
    assert "ORDERS_PORT_2" not in env

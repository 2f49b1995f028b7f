"""chassis.events.reachability: the broker state a process keeps (pure logic, fake clocks)."""

from __future__ import annotations

import logging
import threading

import pytest

from chassis.events.reachability import BrokerState, Observation
from tests.utils import Clock, wait_for


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> BrokerState:
    return BrokerState(monotonic=clock, wall=lambda: 1_700_000_000.5)


def test_the_latest_outcome_wins(state, clock):
    assert state.last is None

    state.record(reachable=False, source="publish", error="OperationalError: refused")
    clock.now += 3
    failed = state.last
    state.record(reachable=True, source="check", error="ignored when reachable")

    assert failed == Observation(False, "publish", "OperationalError: refused", 1000.0, 1.7e9 + 0.5)
    assert state.last == Observation(True, "check", "", 1003.0, 1.7e9 + 0.5)


def test_an_error_is_kept_short(state):
    state.record(reachable=False, source="publish", error="x" * 500)

    assert state.last.error == "x" * 200


def test_failed_within_is_true_only_for_a_recent_failure(state, clock):
    assert state.failed_within(5) is False  # nothing known

    state.record(reachable=False, source="publish", error="E")
    clock.now += 4.9
    assert state.failed_within(5) is True
    clock.now += 0.1
    assert state.failed_within(5) is False

    state.record(reachable=True, source="publish")
    assert state.failed_within(5) is False


def test_a_stale_state_starts_one_check_at_most_every_max_age_seconds(state, clock):
    calls: list[str] = []

    def check() -> None:
        calls.append(threading.current_thread().name)

    assert state.refresh_if_stale(30, check) is True  # nothing known yet
    wait_for(lambda: state.last is not None and not state.checking)
    assert state.last == Observation(True, "check", "", 1000.0, 1.7e9 + 0.5)

    started = []
    for _ in range(29):
        clock.now += 1
        started.append(state.refresh_if_stale(30, check))
    assert started == [False] * 29
    clock.now += 1  # 30 s after the last observation

    assert state.refresh_if_stale(30, check) is True
    wait_for(lambda: not state.checking)
    assert calls == ["broker-check", "broker-check"]  # never on the caller's thread


def test_a_fresh_outcome_of_a_publish_defers_the_check(state, clock):
    state.record(reachable=True, source="publish")
    clock.now += 29

    assert state.refresh_if_stale(30, pytest.fail) is False


def test_a_check_in_progress_is_not_started_twice(state):
    release = threading.Event()

    def slow_refused() -> None:
        release.wait(10)
        raise ConnectionRefusedError("refused")

    assert state.refresh_if_stale(30, slow_refused) is True
    assert state.refresh_if_stale(30, pytest.fail) is False
    release.set()

    wait_for(lambda: not state.checking)
    assert state.last == Observation(
        False, "check", "ConnectionRefusedError: refused", 1000.0, 1.7e9 + 0.5
    )


def test_zero_max_age_disables_checks(state):
    assert state.refresh_if_stale(0, pytest.fail) is False
    assert state.last is None


def test_a_change_of_reachability_is_logged_once(state, caplog):
    caplog.set_level(logging.INFO, logger="chassis.events.reachability")

    for _ in range(3):
        state.record(reachable=False, source="publish", error="E: down")
    for _ in range(3):
        state.record(reachable=True, source="check")

    assert [(r.levelname, r.getMessage(), r.source) for r in caplog.records] == [
        ("WARNING", "events.broker_unreachable", "publish"),
        ("INFO", "events.broker_reachable", "check"),
    ]


def test_reset_forgets_the_state(state):
    state.record(reachable=True, source="publish")

    state.reset()

    assert state.last is None

import json
import logging
import pickle
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from chassis.cache import JSONSerializer, UndecodableValue
from tests.utils import PROBE_KEY, THROTTLED


class CodeRunningValue:
    """Un-pickling this runs ``Path(marker).touch()``: any callable the attacker names would run
    the same way (``os.system`` included)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_value_planted_in_redis_runs_no_code(shared_redis_cache, tmp_path, caplog):
    """Attack: whoever can write to the (unauthenticated, local) Redis plants a pickle under
    the key a throttle reads for the next request; reading it must not run the attacker's
    callable, and the request is answered as if the key were empty."""
    marker = tmp_path / "code-ran"
    stored_as = cache.make_and_validate_key(PROBE_KEY)
    shared_redis_cache.set(stored_as, pickle.dumps(CodeRunningValue(marker)), ex=300)

    client = APIClient(raise_request_exception=False)  # answer as a deployment does
    caplog.set_level(logging.WARNING, logger="chassis.cache")

    response = client.get(THROTTLED)

    assert not marker.exists()
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    history = json.loads(shared_redis_cache.get(stored_as))  # the throttle's own, as JSON
    assert len(history) == 1
    assert isinstance(history[0], float)
    assert [(r.levelname, r.getMessage(), r.key) for r in caplog.records] == [
        ("WARNING", "cache.value_refused", stored_as)
    ]


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**62,
        1.5,
        -0.25,
        1e300,
        "",
        "text éè 😀",
        True,
        False,
        None,
        [],
        [1, 2.5, "x"],
        {},
        {"a": [1, {"b": None}], "c": 1.0},
    ],
)
def test_values_come_back_as_they_went(value):
    serializer = JSONSerializer()

    assert serializer.loads(_as_stored(serializer.dumps(value))) == value
    assert type(serializer.loads(_as_stored(serializer.dumps(value)))) is type(value)


def test_integers_are_stored_raw_so_redis_can_count_them():
    serializer = JSONSerializer()

    assert serializer.dumps(41) == 41
    assert serializer.dumps(True) == b"true"
    assert serializer.dumps([1, 2]) == b"[1,2]"
    assert serializer.loads(b"42") == 42


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x05\x95garbage",  # a pickle's opening
        pickle.dumps({"a": 1}),
        b"\xff\xfe\x00",
        b"{not json",
        b"",
    ],
)
def test_bytes_it_did_not_write_are_refused(data):
    with pytest.raises(UndecodableValue):
        JSONSerializer().loads(data)


def test_what_json_cannot_hold_is_refused_on_writing():
    serializer = JSONSerializer()

    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        serializer.dumps({1, 2})


def test_redis_round_trip_and_incr(shared_redis_cache):
    cache.set("history", [1700000000.25, 1700000001.5])
    cache.set("counter", 1)
    cache.set_many({"a": {"x": [1]}, "b": "text"})

    assert cache.incr("counter") == 2
    assert cache.get("counter") == 2
    assert cache.get("history") == [1700000000.25, 1700000001.5]
    assert cache.get_many(["a", "b", "missing"]) == {"a": {"x": [1]}, "b": "text"}
    assert shared_redis_cache.get(cache.make_and_validate_key("a")) == b'{"x":[1]}'


def test_a_value_it_did_not_write_is_a_miss(shared_redis_cache, caplog):
    caplog.set_level(logging.WARNING, logger="chassis.cache")
    planted = cache.make_and_validate_key("planted")
    shared_redis_cache.set(planted, b"\x80\x05garbage", ex=300)
    cache.set("kept", ["ok"])

    assert cache.get("planted", "default") == "default"
    assert cache.get_many(["planted", "kept"]) == {"kept": ["ok"]}
    assert [(r.getMessage(), r.key) for r in caplog.records] == [
        ("cache.value_refused", planted)
    ] * 2


def _as_stored(value: bytes | int) -> bytes:
    """What Redis hands back for a value written to it (it keeps integers as their digits)."""
    return str(value).encode() if isinstance(value, int) else value

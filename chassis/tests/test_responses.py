"""chassis.responses.json_response: orjson-rendered JSON shaped as DRF renders it."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.responses import json_response


def test_json_with_utc_datetimes_a_status_and_headers():
    response = json_response(
        {"at": datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC), "n": [1, None]},
        201,
        Location="/api/v1/things/1",
        Cache_Control="no-store",
    )

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response["Location"] == "/api/v1/things/1"
    assert response["Cache-Control"] == "no-store"
    assert response.content == b'{"at":"2026-03-01T12:00:00.500000Z","n":[1,null]}'


def test_defaults_to_200_with_no_extra_header():
    response = json_response([])

    assert (response.status_code, response.content) == (200, b"[]")
    assert "Location" not in response

"""The bench's profile of a request (infra/bench/request_profile.py): each py-spy sample goes to
one stage of the request path, and the table scales the shares to the CPU per request."""

from __future__ import annotations

import sys
from collections import Counter

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "bench"))
from request_profile import OTHER, breakdown, count_stages, stage_of

WORKER = "run (gunicorn/workers/sync.py:10);handle (gunicorn/workers/sync.py:40)"
VIEW = "__call__ (django/core/handlers/wsgi.py:1);dispatch (rest_framework/views.py:5)"


def test_the_innermost_frame_of_a_stage_names_the_sample() -> None:
    assert stage_of([*WORKER.split(";"), "parse (gunicorn/http/message.py:3)"]) == (
        "gunicorn: HTTP parsing (request line, headers)"
    )
    query = "get (django/db/models/query.py:1);execute (psycopg/cursor.py:3)"
    assert stage_of([*VIEW.split(";"), *query.split(";")]) == (
        "database query (psycopg, Django's backend)"
    )
    # The standard library's frames are passed over: JSON encoding counts where it is called.
    encode = "encode (json/encoder.py:3)"
    assert stage_of(["format (pythonjsonlogger/json.py:1)", encode]) == (
        "logging (access line, log records)"
    )
    assert stage_of(["render (rest_framework/renderers.py:1)", encode]) == "JSON rendering"
    assert stage_of(["<module> (x.py:1)"]) == OTHER


def test_the_health_checks_select_1_is_its_own_stage_wherever_it_ends() -> None:
    check = "is_usable (django/db/backends/postgresql/base.py:490);execute (psycopg/cursor.py:3)"
    assert stage_of([*VIEW.split(";"), *check.split(";")]) == (
        "database health check (CONN_HEALTH_CHECKS' SELECT 1)"
    )


def test_raw_lines_are_counted_and_the_table_adds_up_to_the_cpu_per_request() -> None:
    counts = count_stages(
        [
            f"{WORKER};parse (gunicorn/http/message.py:3) 3",
            f"{VIEW};render (rest_framework/renderers.py:1) 1",
            "not a sample line",
        ]
    )
    assert counts == Counter(
        {"gunicorn: HTTP parsing (request line, headers)": 3, "JSON rendering": 1}
    )
    assert breakdown(counts, 1000.0) == [
        ["stage", "samples", "share", "us per request"],
        ["gunicorn: HTTP parsing (request line, headers)", "3", "75.0%", "750.0"],
        ["JSON rendering", "1", "25.0%", "250.0"],
        ["all", "4", "100%", "1000.0"],
    ]

"""A hostile-input suite every service inherits (NetBox's ``APIViewTestCases`` style).

A service's test module declares its endpoints; the suite crosses them with a table of hostile
values and asserts that every answer is below 500, and in the one error shape when it is a
4xx on the API::

    class TestHostileInput(HostileInputSuite):
        endpoints = (
            Endpoint("orders", "/api/v1/orders/", cursor="drf", params=("status",)),
            Endpoint("order-admin", "/admin/orders/orders/order/", client="admin_session",
                     admin=True, params=("created_at__gte", "total__gt", "id__exact")),
        )

        @pytest.fixture
        def objects(self) -> dict[str, Any]:  # fills the {placeholders} of the paths
            return {"order": OrderFactory().pk}

Classes of hostile input (each a row of a table below): numbers a link or a form never makes
(non-ASCII digits: ``str.isdigit()`` accepts ``"¹"`` that ``int()`` refuses; huge exponents,
NaN, Infinity, integers beyond 64 bits), date-times PostgreSQL refuses (offsets beyond 15:59,
the edges of the calendar), NUL bytes, lone surrogates, odd Unicode, long text; pagination
cursors carrying such values (DRF's ``CursorPagination`` and :mod:`chassis.keyset`); and
``X-Request-ID`` headers that are too long or carry other characters than an id's.

Each endpoint's ``client`` names a pytest fixture (``staff_client``, ``admin_client``, ...).
An admin changelist (``admin=True``) answers in HTML: 200, or Django's ``?e=1`` redirect.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from chassis.correlation import CORRELATION_ID

__all__ = [
    "HOSTILE_REQUEST_IDS",
    "HOSTILE_VALUES",
    "Endpoint",
    "HostileInputSuite",
    "assert_survived",
    "drf_cursor",
    "keyset_cursor",
]

# name -> a value sent as a query parameter (numbers, dates, ids, search text, filters).
HOSTILE_VALUES: dict[str, str] = {
    "superscript-digit": "\u00b9",
    "arabic-indic-digits": "\u0661\u0662",
    "fullwidth-digits": "\uff11\uff12",
    "huge-exponent": "1e999999",
    "tiny-exponent": "1e-999999",
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "beyond-64-bits": "9" * 30,
    "digits-beyond-int-limit": "9" * 5000,
    "below-64-bits": "-" + "9" * 30,
    "offset-postgres-refuses": "2024-05-01T10:00:00+23:59",
    "start-of-calendar": "0001-01-01T00:00:00+15:00",
    "end-of-calendar": "9999-12-31T23:59:59-15:00",
    "year-beyond-9999": "99999-01-01",
    "nul-byte": "a\x00b",
    "lone-surrogate": "\ud800",
    "odd-unicode": "\u202e\ufeffZ\u0301\U0001f6d2",
    "long-text": "x" * 5000,
    "many-terms": " ".join(f"w{i}" for i in range(1000)),
    "search-operators": '-"-" or -or "" !:*& (|) <-> \\',
    "sql-ish": "' OR 1=1 --",
}

# name -> an X-Request-ID header: each is refused, and the request answered with a fresh id.
HOSTILE_REQUEST_IDS: dict[str, str] = {
    "oversized": "a" * 101,
    "far-oversized": "b" * 5000,
    "spaces": "an id with spaces",
    "markup": "<script>alert(1)</script>",
    "non-ascii": "caf\u00e9-\u00b9",
    "nul-byte": "id\x00x",
    "empty": "",
}

# Cursor "k"/"p" identifiers and offsets a link never makes.
_HOSTILE_IDS: dict[str, Any] = {
    "id-beyond-64-bits": 2**63,
    "id-below-64-bits": -(2**63) - 1,
    "id-float": 1e308,
    "id-text": "\u00b9",
    "id-null": None,
    "id-list": [1],
}
_HOSTILE_OFFSETS = ("9" * 30, "\u00b9", "-1", "1e9")


def drf_cursor(*, position: str | None = None, offset: str = "0", reverse: str = "0") -> str:
    """A cursor as DRF's ``CursorPagination`` encodes it (base64 of a query string)."""
    tokens = {"o": offset, "r": reverse, **({} if position is None else {"p": position})}
    query = urlencode(tokens, encoding="utf-8", errors="surrogatepass")
    return base64.b64encode(query.encode()).decode()


def keyset_cursor(ordering: str, value: Any, ident: Any = 1, reverse: Any = False) -> str:
    """A cursor as :class:`chassis.keyset.KeysetPaginator` encodes it (base64url JSON)."""
    payload = json.dumps({"o": ordering, "k": [value, ident], "r": reverse})
    raw = payload.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint under attack.

    ``path`` may hold ``{placeholders}`` filled from the ``objects`` fixture; ``params`` are
    the query parameters that each get every hostile value (numbers, dates, ids, search
    text; an admin's lookups such as ``price__gt``); ``cursor`` is ``"drf"`` or ``"keyset"``
    (then ``orderings`` are the keyset's ordering names); ``query`` is a valid query the
    hostile parameter joins; ``method``, ``body`` and ``headers`` (WSGI names, as
    ``HTTP_IDEMPOTENCY_KEY``) make a write, for the request-id attack (a write that
    publishes an event stores the id).
    """

    name: str
    path: str
    client: str = "staff_client"
    params: tuple[str, ...] = ()
    cursor: str | None = None
    orderings: tuple[str, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    admin: bool = False
    method: str = "GET"
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


def _cursor_cases(endpoint: Endpoint) -> list[tuple[str, str]]:
    if endpoint.cursor == "drf":
        cases = [(f"p-{name}", drf_cursor(position=v)) for name, v in HOSTILE_VALUES.items()]
        cases += [(f"o-{v}", drf_cursor(offset=v)) for v in _HOSTILE_OFFSETS]
        cases += [(f"r-{v}", drf_cursor(reverse=v)) for v in _HOSTILE_OFFSETS]
        return cases
    if endpoint.cursor == "keyset":
        cases = []
        for ordering in endpoint.orderings:
            cases += [
                (f"{ordering}-{name}", keyset_cursor(ordering, value))
                for name, value in HOSTILE_VALUES.items()
            ]
            cases += [
                (f"{ordering}-{name}", keyset_cursor(ordering, "1", ident))
                for name, ident in _HOSTILE_IDS.items()
            ]
            cases.append((f"{ordering}-reverse-text", keyset_cursor(ordering, "1", 1, "x")))
        return cases
    return []


def _query_cases(endpoint: Endpoint) -> list[tuple[str, list[tuple[str, str]]]]:
    cases = [
        (f"{param}={name}", [(param, value)])
        for param in endpoint.params
        for name, value in HOSTILE_VALUES.items()
    ]
    cases += [(f"cursor={name}", [("cursor", v)]) for name, v in _cursor_cases(endpoint)]
    return cases


def _query_string(pairs: list[tuple[str, str]]) -> str:
    """Percent-encoded UTF-8, lone surrogates as their (invalid) UTF-8 bytes, as a hostile
    client can send them."""
    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'))}" for name, value in pairs
    )


_PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}


def assert_survived(endpoint: Endpoint, response: Any) -> None:
    """Below 500; on the API a 4xx is a problem document; an admin answers its page or a
    redirect (Django's ``?e=1`` for lookups it refuses)."""
    assert response.status_code < 500, response.content[:2000]
    if endpoint.admin:
        assert response.status_code in (200, 302), response.status_code
        return
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json", response.content[:500]
        body = json.loads(response.content)
        assert set(body) == _PROBLEM_KEYS
        assert body["status"] == response.status_code
        assert body["correlation_id"] == response["X-Request-ID"]


class HostileInputSuite:
    """Inherit with ``endpoints`` (and an ``objects`` fixture when paths have placeholders)."""

    endpoints: tuple[Endpoint, ...] = ()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "hostile_query" in metafunc.fixturenames:
            cases = [
                pytest.param(endpoint, pairs, id=f"{endpoint.name}:{name}")
                for endpoint in self.endpoints
                if endpoint.method == "GET"
                for name, pairs in _query_cases(endpoint)
            ]
            metafunc.parametrize(("endpoint", "hostile_query"), cases)
        if "hostile_request_id" in metafunc.fixturenames:
            cases = [
                pytest.param(endpoint, value, id=f"{endpoint.name}:{name}")
                for endpoint in self.endpoints
                for name, value in HOSTILE_REQUEST_IDS.items()
            ]
            metafunc.parametrize(("endpoint", "hostile_request_id"), cases)

    @pytest.fixture
    def objects(self) -> dict[str, Any]:
        return {}

    def send(self, request: pytest.FixtureRequest, endpoint: Endpoint, query: str, **extra: Any):
        client = request.getfixturevalue(endpoint.client)
        path = endpoint.path.format(**request.getfixturevalue("objects"))
        url = f"{path}?{query}" if query else path
        body = "" if endpoint.body is None else json.dumps(endpoint.body)
        headers = dict(endpoint.headers)
        return client.generic(endpoint.method, url, body, "application/json", **headers, **extra)

    def test_hostile_query_is_refused_below_500(
        self, request: pytest.FixtureRequest, endpoint: Endpoint, hostile_query: Any
    ) -> None:
        response = self.send(request, endpoint, _query_string([*endpoint.query, *hostile_query]))

        assert_survived(endpoint, response)

    def test_every_admin_lists_through_the_strict_changelist(self) -> None:
        from django.contrib import admin
        from django.http import HttpRequest

        from chassis.admin import StrictChangeList

        loose = [
            type(model_admin).__name__
            for model_admin in admin.site._registry.values()
            if not issubclass(model_admin.get_changelist(HttpRequest()), StrictChangeList)
        ]
        assert loose == []
        assert admin.site._registry  # the service has an admin

    def test_hostile_request_id_is_replaced(
        self, request: pytest.FixtureRequest, endpoint: Endpoint, hostile_request_id: str
    ) -> None:
        query = _query_string(list(endpoint.query))
        response = self.send(request, endpoint, query, HTTP_X_REQUEST_ID=hostile_request_id)

        assert_survived(endpoint, response)
        assert response["X-Request-ID"] != hostile_request_id
        assert re.fullmatch(CORRELATION_ID, response["X-Request-ID"])

"""`make up` end to end through the gateway: the API walk, staff, admin, catalog, teardown."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys

import httpx
import jwt
import pytest

from conftest import HTTP_TIMEOUT, REGISTRY, ROOT, RUNNER, Platform, eventually

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}


def register_and_login(client: httpx.Client) -> tuple[str, dict]:
    email = f"walker-{secrets.token_hex(4)}@example.com"
    password = "a long and unusual passphrase"
    created = client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "full_name": "Walker"}
    )
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    return email, token.json()


def test_readme_walk_ends_with_401_in_the_error_shape(
    platform: Platform, client: httpx.Client
) -> None:
    email, pair = register_and_login(client)

    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email

    refreshed = client.post("/api/v1/auth/token/refresh", json={"refresh": pair["refresh"]})
    assert refreshed.status_code == 200
    new_refresh = refreshed.json()["refresh"]
    assert new_refresh != pair["refresh"]

    assert client.post("/api/v1/auth/logout", json={"refresh": new_refresh}).status_code == 204

    again = client.post("/api/v1/auth/token/refresh", json={"refresh": new_refresh})
    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"
    body = again.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == 401
    assert body["type"] == "urn:problem-type:token-not-valid"
    assert body["correlation_id"] == again.headers["x-request-id"]


def test_issued_token_verifies_against_the_served_jwks(client: httpx.Client) -> None:
    _, pair = register_and_login(client)
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) >= 2

    kid = jwt.get_unverified_header(pair["access"])["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(pair["access"], key.key, algorithms=["RS256"], issuer="users")
    assert {"kid"} <= set(jwt.get_unverified_header(pair["access"]))
    assert {"exp", "iat", "jti", "sub", "email", "is_staff", "groups"} <= set(claims)
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access']}"})
    assert claims["sub"] == me.json()["id"]


def test_demo_staff_account_reaches_staff_api_and_admin(
    platform: Platform, client: httpx.Client
) -> None:
    login = client.post(
        "/api/v1/auth/token",
        json={"email": "admin@example.com", "password": platform.demo_password()},
    )
    assert login.status_code == 200, login.text
    users = client.get(
        "/api/v1/users/", headers={"Authorization": f"Bearer {login.json()['access']}"}
    )
    assert users.status_code == 200
    assert "admin@example.com" in [u["email"] for u in users.json()["results"]]

    admin = client.get("/admin/users/login/")
    assert admin.status_code == 200
    assert "users-service administration" in admin.text
    css = client.get("/static/users/admin/css/base.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("service", REGISTRY)
def test_readyz_reports_every_check(platform: Platform, service: str) -> None:
    """Ready: database and migrations. The broker is reported beside them, as each web
    worker last saw it: "unknown" in a worker that has neither published nor run its
    background check yet (the probe starts one), then "ok"."""
    seen: list[dict] = []

    def observed() -> bool:
        ready = httpx.get(f"{platform.urls[service]}/readyz", timeout=HTTP_TIMEOUT)
        assert ready.status_code == 200
        body = ready.json()
        assert (body["status"], body["checks"]) == ("ok", {"database": "ok", "migrations": "ok"})
        seen.append(body)
        return body["broker"]["status"] != "unknown"

    eventually(observed, f"{service} never observed the broker")
    broker = seen[-1]["broker"]
    assert (broker["status"], broker["error"]) == ("ok", None)
    assert broker["source"] in ("publish", "check")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", broker["observed_at"])


def test_prepare_again_is_idempotent(platform: Platform) -> None:
    before = platform.demo_password()
    again = subprocess.run(
        [sys.executable, RUNNER, "prepare"],
        cwd=ROOT,
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert platform.demo_password() == before
    assert "2 signing key(s) present" in again.stdout
    for service in REGISTRY:  # what was done is not done again
        assert f"  {service}: migrations: all applied\n" in again.stdout
        assert f"  {service}: static files: unchanged\n" in again.stdout
    assert "  catalog: catalog already has products: nothing seeded\n" in again.stdout


def test_a_forged_token_is_refused_at_the_gateway_before_any_service(
    platform: Platform, client: httpx.Client
) -> None:
    _, pair = register_and_login(client)
    header, payload, signature = pair["access"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["is_staff"] = True  # the classic escalation attempt
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = f"{header}.{tampered}.{signature}"
    marker = f"forged-{secrets.token_hex(8)}"

    refused = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {forged}", "X-Request-ID": marker}
    )

    assert refused.status_code == 401
    assert refused.content == b'{"message":"Invalid signature"}'
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert refused.headers["x-request-id"] == marker

    def gateway_lines() -> list[str]:  # written once the response is sent
        access = (platform.var / "log" / "gateway-access.log").read_text().splitlines()
        return [line for line in access if marker in line]

    eventually(gateway_lines, "the gateway logged no access line for the forged token")
    assert len(gateway_lines()) == 1
    assert '"status":401' in gateway_lines()[0]
    log = platform.log.read_text().splitlines()  # every service's output, through the supervisor
    assert [line for line in log if marker in line] == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/.well-known/jwks.json", 200),
        ("POST", "/api/v1/auth/token", 400),
        ("GET", "/api/v1/users/schema/", 200),
        ("GET", "/docs/users/", 200),
        ("GET", "/admin/users/login/", 200),
        ("GET", "/static/users/admin/css/base.css", 200),
    ],
)
def test_every_route_reaches_users_service(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["x-ratelimit-limit-minute"] in {"30", "120", "300"}


@pytest.mark.parametrize(
    ("method", "path", "status", "limit"),
    [
        ("GET", "/api/v1/catalog/products/", 200, "1200"),
        ("HEAD", "/api/v1/catalog/categories/tree", 200, "1200"),
        ("GET", "/api/v1/catalog/schema/", 200, "1200"),
        ("POST", "/api/v1/catalog/categories/", 401, None),  # the gateway's jwt
        ("GET", "/docs/catalog/", 200, "300"),
        ("GET", "/admin/catalog/login/", 200, "300"),
        ("GET", "/static/catalog/admin/css/base.css", 200, "300"),
    ],
)
def test_every_route_reaches_catalog_service(
    client: httpx.Client, method: str, path: str, status: int, limit: str | None
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("x-ratelimit-limit-minute") == limit


@pytest.mark.parametrize(
    ("method", "path", "status", "limit"),
    [
        ("GET", "/api/v1/orders/", 401, None),  # the gateway's jwt, every method
        ("POST", "/api/v1/orders/", 401, None),
        ("GET", "/api/v1/orders/schema/", 200, "300"),
        ("GET", "/docs/orders/", 200, "300"),
        ("GET", "/admin/orders/login/", 200, "300"),
        ("GET", "/static/orders/admin/css/base.css", 200, "300"),
    ],
)
def test_every_route_reaches_orders_service(
    client: httpx.Client, method: str, path: str, status: int, limit: str | None
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("x-ratelimit-limit-minute") == limit


def test_orders_preflight_is_answered_by_cors_and_buyers_reach_their_orders(
    client: httpx.Client,
) -> None:
    preflight = client.options(
        "/api/v1/orders/",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "Idempotency-Key" in preflight.headers["access-control-allow-headers"]
    _, pair = register_and_login(client)
    listed = client.get("/api/v1/orders/", headers={"Authorization": f"Bearer {pair['access']}"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["results"] == []
    assert listed.headers["x-ratelimit-limit-minute"] == "600"


def staff_token(platform: Platform, client: httpx.Client) -> str:
    """The demo staff account's access token, from users-service through the gateway."""
    login = client.post(
        "/api/v1/auth/token",
        json={"email": "admin@example.com", "password": platform.demo_password()},
    )
    assert login.status_code == 200, login.text
    return login.json()["access"]


CHUNKED_OVER_LIMIT = [  # one route of each kind per service (the jwt ones with a token)
    ("POST", "/api/v1/auth/token", "users", False),
    ("PUT", "/api/v1/users/me", "users", True),
    ("POST", "/admin/users/login/", "users", False),
    ("POST", "/api/v1/catalog/products/", "catalog", True),
    ("POST", "/docs/catalog/", "catalog", False),
    ("POST", "/api/v1/orders/", "orders", True),
    ("PATCH", "/static/orders/x", "orders", False),
]


@pytest.mark.parametrize(
    ("method", "path", "service", "needs_token"),
    CHUNKED_OVER_LIMIT,
    ids=[f"{m} {p}" for m, p, _, _ in CHUNKED_OVER_LIMIT],
)
def test_a_chunked_body_over_the_limit_never_reaches_a_service(
    platform: Platform,
    client: httpx.Client,
    method: str,
    path: str,
    service: str,
    needs_token: bool,
) -> None:
    """kong.yml's request-size-limiting (1 MiB) holds for a body without Content-Length too:
    1 MiB + 1 byte sent chunked is the gateway's 413, and the service never logs it."""
    marker = f"chunked-{secrets.token_hex(8)}"
    headers = {"X-Request-ID": marker}
    if needs_token:
        headers["Authorization"] = f"Bearer {staff_token(platform, client)}"
    chunks = [b"x" * 65536] * 16 + [b"x"]
    refused = client.request(method, path, content=iter(chunks), headers=headers)
    assert refused.status_code == 413
    assert refused.json() == {
        "message": "Request size limit exceeded",
        "request_id": refused.headers["x-kong-request-id"],
    }
    assert refused.headers["x-request-id"] == marker
    read = client.get(f"/docs/{service}/", headers={"X-Request-ID": f"{marker}-read"})
    assert read.status_code == 200
    eventually(  # the service's access line for the read: its log has caught up
        lambda: f"{marker}-read" in platform.log.read_text(),
        f"{service}-service logged no access line for the read",
    )
    log = platform.log.read_text().splitlines()
    assert [line for line in log if marker in line and f"{marker}-read" not in line] == []
    access = (platform.var / "log" / "gateway-access.log").read_text().splitlines()
    refused_lines = [json.loads(line) for line in access if f'"{marker}"' in line]
    assert [line["status"] for line in refused_lines] == [413]


def test_anonymous_clients_list_the_seeded_catalog(client: httpx.Client) -> None:
    page = client.get("/api/v1/catalog/products/", params={"page_size": 100})
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["results"]) == 100
    seen, seeded, pages = set(), set(), 0
    while True:  # every page through the gateway, following the service's own links
        pages += 1
        results = body["results"]
        assert seen.isdisjoint(p["id"] for p in results)
        seen |= {p["id"] for p in results}
        seeded |= {p["sku"] for p in results if p["sku"].startswith("SEED-")}
        if not body["next"]:
            break
        assert body["next"].startswith(f"{client.base_url}/api/v1/catalog/products/?")
        body = client.get(body["next"]).json()
    assert pages >= 2
    assert len(seeded) == 200  # what prepare seeded (the API fuzz runs last: conftest)
    tree = client.get("/api/v1/catalog/categories/tree")
    assert tree.status_code == 200
    assert {"lighting", "audio"} <= {
        leaf["slug"] for node in tree.json() for leaf in node["children"]
    }


def test_catalog_writes_need_a_token_at_the_gateway(
    platform: Platform, client: httpx.Client
) -> None:
    marker = f"anonymous-write-{secrets.token_hex(8)}"
    read = client.get("/api/v1/catalog/categories/", headers={"X-Request-ID": f"{marker}-read"})
    assert read.status_code == 200
    refused = client.post(
        "/api/v1/catalog/products/",
        json={"sku": "NOPE-1", "name": "Nope", "price": "1.00"},
        headers={"X-Request-ID": marker},
    )
    assert refused.status_code == 401
    assert refused.content == b'{"message":"Unauthorized"}'
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert refused.headers["x-request-id"] == marker
    eventually(  # the read's access line shows the service logs what it served
        lambda: f"{marker}-read" in platform.log.read_text(),
        "catalog-service logged no access line for the anonymous read",
    )
    log = platform.log.read_text().splitlines()
    assert [line for line in log if marker in line and f"{marker}-read" not in line] == []


def test_staff_create_a_product_and_adjust_its_stock_through_the_gateway(
    platform: Platform, client: httpx.Client
) -> None:
    auth = {"Authorization": f"Bearer {staff_token(platform, client)}"}
    category = client.get("/api/v1/catalog/categories/").json()["results"][0]["slug"]
    sku = f"SYS-{secrets.token_hex(4)}"
    created = client.post(
        "/api/v1/catalog/products/",
        headers=auth,
        json={"sku": sku, "name": "System Test Lamp", "price": "19.90", "category": category},
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert (product["sku"], product["stock"], product["price"]) == (sku, 0, "19.90")
    assert created.headers["location"] == f"/api/v1/catalog/products/{product['id']}"
    stock = f"/api/v1/catalog/products/{product['id']}/stock"

    set_to = client.post(
        stock, headers=auth, json={"mode": "set", "quantity": 12, "reason": "restock"}
    )
    assert set_to.status_code == 200, set_to.text
    assert set_to.json()["product"]["stock"] == 12
    added = client.post(
        stock,
        headers=auth,
        json={"mode": "increment", "quantity": -2, "reason": "damage", "reference": "broken"},
    )
    assert added.status_code == 200, added.text
    assert added.json()["movement"]["delta"] == -2
    assert added.json()["movement"]["stock_after"] == 10

    public = client.get(f"/api/v1/catalog/products/{product['id']}")  # anonymous read
    assert (public.status_code, public.json()["stock"]) == (200, 10)
    found = client.get("/api/v1/catalog/products/", params={"q": sku})
    assert [p["sku"] for p in found.json()["results"]] == [sku]
    ledger = client.get(f"/api/v1/catalog/products/{product['id']}/stock-movements", headers=auth)
    assert ledger.status_code == 200, ledger.text
    assert [(m["delta"], m["stock_after"], m["reason"]) for m in ledger.json()["results"]] == [
        (-2, 10, "damage"),
        (12, 12, "restock"),
    ]
    assert {m["actor"] for m in ledger.json()["results"]} == {f"user:{ledger_actor(auth)}"}
    # The ledger is staff-only: anonymous readers get the service's 401, not the gateway's.
    anonymous = client.get(f"/api/v1/catalog/products/{product['id']}/stock-movements")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


def test_staff_sign_in_to_the_catalog_admin_with_their_users_account(
    platform: Platform, client: httpx.Client
) -> None:
    """Single sign-on through the gateway: catalog asks users-service, keeps no password."""
    form = client.get("/admin/catalog/login/", params={"next": "/admin/catalog/"})
    assert form.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = client.post(
        "/admin/catalog/login/?next=/admin/catalog/",
        data={
            "csrfmiddlewaretoken": csrf,
            "username": "admin@example.com",
            "password": platform.demo_password(),
        },
    )
    assert signed_in.status_code == 302, signed_in.text[-2000:]
    assert signed_in.headers["location"] == "/admin/catalog/"
    index = client.get("/admin/catalog/")
    assert index.status_code == 200
    assert "catalog-service administration" in index.text
    assert "/admin/catalog/catalog/product/" in index.text


def ledger_actor(auth: dict[str, str]) -> str:
    token = auth["Authorization"].removeprefix("Bearer ")
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def test_up_says_what_it_chose_and_where_to_reach_it(platform: Platform) -> None:
    log = platform.log.read_text()
    database = "PostgreSQL 127.0.0.1:5432" if platform.mode == "local-services" else "SQLite"
    assert f"database  {database}" in log
    assert f"Reach it through the gateway: {platform.gateway}\n" in log
    assert f"admin {platform.gateway}/admin/users/" in log
    assert f"admin {platform.gateway}/admin/catalog/" in log
    assert f"admin {platform.gateway}/admin/orders/" in log
    assert f"Demo staff account: admin@example.com / {platform.demo_password()}\n" in log
    smtp, mail = platform.env["SMTP_PORT"], platform.var / "mail"
    assert f"Mail (SMTP sink 127.0.0.1:{smtp}): every message is a file in {mail}/*.eml\n" in log
    for email in ("catalog-editor", "order-manager", "support"):  # one per role
        password = (platform.var / "demo-accounts" / f"{email}@example.com").read_text()
        assert f"  role account: {email}@example.com / {password}\n" in log

"""A shopper's session with the platform, under Locust: its account (from the pool), its
tokens (refreshed before they expire), and requests whose 429s are waited out.

``Run`` is what all simulated users of a run share (locustfile.py creates it on Locust's
``init`` event: ``ShopperSession.shop``); ``ShopperSession`` is the base of its ``Shopper``.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import HttpUser
from locust.env import Environment

import shopstats

GATEWAY = f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"  # as `make up` prints
THROTTLE_TRIES = 5  # 429s in a row before an action is given up (still not a failure)
EARLY_REFRESH = 30.0  # seconds before the access token expires
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"


class Run:
    """What every simulated user shares in one run."""

    def __init__(self, environment: Environment) -> None:
        self.options = environment.parsed_options
        self.pool = shopstats.AccountPool(
            Path(self.options.accounts_file), environment.host or GATEWAY
        )
        self.ledger = shopstats.OrderLedger()
        self.owners: dict[str, Any] = {}  # order id -> the Shopper that placed it
        self.throttled: Counter[str] = Counter()
        self.started = self.stopped = time.monotonic()
        self.summary: dict[str, Any] | None = None
        self.finished = 0  # shoppers that did their --actions


class ShopperSession(HttpUser):
    abstract = True
    host = GATEWAY
    shop: Run  # set by locustfile.py on Locust's init event

    def on_start(self) -> None:
        self.access = self.refresh_token = ""
        self.refresh_due = 0.0
        self.account = self.shop.pool.take() or self.register()
        if self.account and not self.login() and self.tolerated is not None:
            self.shop.pool.drop(self.account["email"])  # unknown here (a new platform): register
            self.account = self.register()
            self.login()

    def on_stop(self) -> None:
        account = getattr(self, "account", None)  # none when stopped while registering
        if account:
            self.shop.pool.release(account["email"])

    def call(
        self,
        method: str,
        path: str,
        name: str,
        expect: int = 200,
        auth: bool = False,
        tolerate: Callable[[Any], bool] = lambda response: False,
        **kwargs: Any,
    ) -> Any:
        """Send a request (``name`` groups it in the statistics); the JSON of an ``expect``ed
        answer, else None: a failure, or an answer ``tolerate`` accepts (an outcome the caller
        handles, kept in ``self.tolerated``, counted under "<name> [<status>]", not a
        failure). A 429 is waited out as its Retry-After asks and sent again (same headers:
        the same Idempotency-Key), up to THROTTLE_TRIES times; it is counted under
        "<name> [429]", never as a failure."""
        headers = kwargs.pop("headers", {})
        self.tolerated: Any = None
        for _ in range(THROTTLE_TRIES):
            if auth:
                if not self.token_fresh():
                    return None
                headers["Authorization"] = f"Bearer {self.access}"
            with self.client.request(
                method, path, name=name, catch_response=True, headers=headers, **kwargs
            ) as response:
                if response.status_code == 429:
                    response.request_meta["name"] = f"{name} [429]"
                    response.success()
                    self.shop.throttled[f"{method} {name}"] += 1
                    wait = shopstats.retry_after(response.headers)
                elif response.status_code == expect:
                    response.success()
                    return response.json() if response.content else {}
                elif tolerate(response):
                    response.request_meta["name"] = f"{name} [{response.status_code}]"
                    response.success()
                    self.tolerated = response
                    return None
                else:
                    response.failure(f"{response.status_code}: {response.text[:300]}")
                    return None
            time.sleep(wait + random.random())  # the users do not all come back at once
        return None

    def token_fresh(self) -> bool:
        """An access token valid for a while yet: refreshed (rotation: a new refresh token
        too) when due, a new login when the refresh is refused. False without one."""
        if self.access and time.time() < self.refresh_due:
            return True
        tokens = None
        if self.refresh_token:
            tokens = self.call("POST", REFRESH, REFRESH, json={"refresh": self.refresh_token})
        if tokens is not None:
            self.tokens_set(tokens)
            return True
        self.access = ""
        return self.login()

    def tokens_set(self, tokens: dict[str, str]) -> None:
        self.access, self.refresh_token = tokens["access"], tokens["refresh"]
        due = shopstats.token_expires_at(self.access) - time.time() - EARLY_REFRESH
        if self.shop.options.refresh_after > 0:
            due = min(due, self.shop.options.refresh_after)
        self.refresh_due = time.time() + max(due, 1.0)

    def register(self) -> dict[str, str] | None:
        """A new account, added to the pool; None when registering was refused."""
        email = f"shopper-{uuid.uuid4().hex[:12]}@load.example.com"
        account = {"email": email, "password": os.urandom(18).hex()}
        body = {**account, "full_name": "Load Shopper"}
        if self.call("POST", REGISTER, REGISTER, 201, json=body) is None:
            return None
        self.shop.pool.add(account)
        return account

    def login(self) -> bool:
        """Tokens for the account; False when it has none or the platform does not know it
        (401: an account of an earlier platform, a tolerated answer)."""
        if not self.account:
            return False
        tokens = self.call("POST", LOGIN, LOGIN, tolerate=unknown_account, json=self.account)
        if tokens is not None:
            self.tokens_set(tokens)
        return tokens is not None


def unknown_account(response: Any) -> bool:
    """A login refused with 401: the pool's account is not this platform's (a new database)."""
    return bool(response.status_code == 401)

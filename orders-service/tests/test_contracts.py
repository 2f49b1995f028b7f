"""The contracts of the events orders consumes: tests/contracts/<producer>/ holds copies of
catalog's and users' schemas; the payloads the handler tests feed must pass them, and
payloads a producer would never send must not."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from chassis.events.models import InboxEvent

from orders.models import OrderLine, Product
from tests.events import (
    CONTRACTS,
    PRODUCERS,
    contract,
    contract_errors,
    deliver,
    product_changed,
)
from tests.factories import EPOCH
from tests.utils import iso


def test_the_contract_copies_are_the_producers_schemas_orders_consumes():
    assert sorted(str(p.relative_to(CONTRACTS)) for p in CONTRACTS.rglob("*.json")) == [
        "catalog/product.changed.v1.json",
        "catalog/stock.rejected.v1.json",
        "catalog/stock.reserved.v1.json",
        "users/user.deactivated.v1.json",
        "users/user.erased.v1.json",
        "users/user.reactivated.v1.json",
    ]


PRODUCER_SCHEMAS = {
    "catalog": Path(__file__).resolve().parents[2] / "catalog-service/catalog/event_schemas",
    "users": Path(__file__).resolve().parents[2] / "users-service/users/event_schemas",
}


@pytest.mark.parametrize("event_type", sorted(PRODUCERS))
def test_the_copies_follow_the_producers_schemas(event_type: str):
    """In the monorepo, a producer's schema change must be copied here (and the handler
    checked against it); outside it (an image, a lone checkout) there is nothing to compare."""
    original = PRODUCER_SCHEMAS[PRODUCERS[event_type]] / f"{event_type}.v1.json"
    if not original.is_file():
        pytest.skip(f"{original} is not in this checkout")

    assert json.loads(contract(event_type).read_text()) == json.loads(original.read_text())


@pytest.mark.parametrize(
    ("event_type", "payload", "breaks"),
    [
        ("product.changed", product_changed(501, price=19.9), ["19.9 is not of type 'string'"]),
        ("product.changed", product_changed(501, updated_at="yesterday"), None),
        ("product.changed", {**product_changed(501), "stock": 3}, None),
        ("stock.reserved", {"order_id": "not-a-uuid", "currency": "EUR", "lines": []}, None),
        (
            "stock.rejected",
            {
                "order_id": str(uuid.uuid4()),
                "reasons": [
                    {"product_id": 1, "code": "out-of-stock", "requested": 1, "available": 0}
                ],
            },
            None,
        ),
        ("user.deactivated", {"user_id": "42"}, ["'42' is not a 'uuid'"]),
        ("user.reactivated", {"user_id": "42"}, ["'42' is not a 'uuid'"]),
    ],
    ids=[
        "price-as-number",
        "date-not-a-date",
        "unknown-field",
        "bad-order-id-and-no-lines",
        "unknown-reason-code",
        "user-id-not-a-uuid",
        "reactivated-user-id-not-a-uuid",
    ],
)
def test_payloads_producers_never_send_break_the_contract(
    event_type: str, payload: dict[str, Any], breaks: list[str] | None
):
    errors = contract_errors(contract(event_type), payload)

    assert errors != []
    if breaks is not None:
        assert errors == breaks


def test_dates_in_product_changed_carry_their_timezone():
    stamp = iso(EPOCH + timedelta(days=59))

    assert contract_errors(contract("product.changed"), product_changed(1, updated_at=stamp)) == []
    assert contract_errors(
        contract("product.changed"), product_changed(1, updated_at="2025-03-01T10:00:00")
    ) == ["'2025-03-01T10:00:00' is not a 'date-time'"]


@pytest.mark.django_db
def test_deliver_refuses_a_payload_outside_the_contract():
    with pytest.raises(AssertionError):
        deliver("user.deactivated", {"user_id": "42"})

    assert InboxEvent.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert Product.objects.count() == 0


@pytest.mark.parametrize(
    ("stamp", "valid"),
    [
        ("2025-03-01T10:00:00Z", True),
        ("2025-03-01T10:00:00.123456+01:00", True),
        ("2025-03-01t10:00:00z", True),
        ("2025-03-01T10:00:00", False),  # no offset
        ("2025-03-01 10:00:00Z", False),
        ("2025-02-30T10:00:00Z", False),  # no such day
        ("2025-03-01T25:00:00Z", False),
        ("2025-03-01", False),
    ],
)
def test_the_contracts_date_times_are_checked(stamp: str, valid: bool):
    """jsonschema checks "date-time" only with rfc3339-validator installed (the chassis's
    jsonschema[format-nongpl]); without it every date above would pass unnoticed."""
    errors = contract_errors(contract("product.changed"), product_changed(1, updated_at=stamp))

    assert errors == ([] if valid else [f"'{stamp}' is not a 'date-time'"])

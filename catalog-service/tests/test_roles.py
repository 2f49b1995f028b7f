"""The permission matrix of the catalog (catalog.roles; the README's "Roles" table): each role
against each staff endpoint and admin page, allowed (its exact success) or refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from chassis.pytest_plugin import HTTPS, STAFF_ID
from chassis.roles import CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT
from chassis.sso import shadow_user_sync
from chassis.testing import assert_problem
from django.test import Client

from catalog import services
from catalog.models import Category, Product

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ROLES = (CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT, "staff", "superuser")
EDITORS = {CATALOG_EDITORS, "superuser"}
EVERY_ROLE = {CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT, "superuser"}
API = "/api/v1/catalog/"
ADMIN = "/admin/catalog/"

# (method, path, body, success status, roles allowed); {product} and {category} are filled in.
API_MATRIX = [
    ("post", "products/", {"sku": "NEW-1", "name": "New", "price": "1.00"}, 201, EDITORS),
    ("patch", "products/{product}", {"name": "Renamed"}, 200, EDITORS),
    ("post", "products/{product}/deactivate", None, 200, EDITORS),
    (
        "post",
        "products/{product}/stock",
        {"mode": "set", "quantity": 3, "reason": "restock"},
        200,
        EDITORS,
    ),
    ("get", "products/{product}/stock-movements", None, 200, EVERY_ROLE),
    ("post", "categories/", {"name": "Garden"}, 201, EDITORS),
    ("patch", "categories/{category}", {"name": "Lamps"}, 200, EDITORS),
    ("delete", "categories/{category}", None, 204, EDITORS),
]
# (method, admin path, form, success status, roles allowed); others: 403, or the login page
# for a role with no permission in the catalog at all (chassis.admin.AdminSite).
ADMIN_MATRIX = [
    ("get", "", None, 200, EVERY_ROLE),
    ("get", "catalog/product/", None, 200, EVERY_ROLE),
    ("get", "catalog/product/{product}/change/", None, 200, EVERY_ROLE),
    ("get", "catalog/product/add/", None, 200, EDITORS),
    ("get", "catalog/stockmovement/", None, 200, EVERY_ROLE),
    ("get", "catalog/category/add/", None, 200, EDITORS),
    ("get", "chassis_events/parkedevent/", None, 200, {"superuser"}),
]


def _claims(role: str) -> dict[str, Any]:
    groups = [role] if role not in ("staff", "superuser") else []
    return {
        "sub": STAFF_ID,
        "email": "staff@example.com",
        "is_staff": True,
        "is_superuser": role == "superuser",
        "groups": groups,
    }


@pytest.fixture
def targets() -> dict[str, int]:
    category = Category.objects.create(name="Lights", slug="lights")
    product = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("2"), stock=5)
    return {"product": product.pk, "category": category.pk}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "success", "allowed"), API_MATRIX)
def test_api_matrix(token, targets, role, method, path, body, success, allowed):
    from chassis.testing import bearer

    client = bearer(token(**_claims(role)))
    url = API + path.format(**targets)

    response = getattr(client, method)(url, body) if body else getattr(client, method)(url)

    if role in allowed:
        assert response.status_code == success, response.content
    else:
        assert_problem(response, 403, "permission-denied")
        assert Product.objects.filter(sku="NEW-1").exists() is False


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "success", "allowed"), ADMIN_MATRIX)
def test_admin_matrix(targets, role, method, path, body, success, allowed):
    client = Client(**HTTPS)
    client.force_login(shadow_user_sync(_claims(role)))

    response = getattr(client, method)(ADMIN + path.format(**targets))

    if role in allowed:
        assert response.status_code == success
    elif role == "staff":  # no permission in the catalog: the admin's door refuses
        assert response.status_code == 302
        assert response["Location"].startswith(f"{ADMIN}login/")
    else:
        assert response.status_code == 403


def test_a_support_agent_sees_a_product_without_a_save_button(targets):
    client = Client(**HTTPS)
    client.force_login(shadow_user_sync(_claims(SUPPORT)))
    url = f"{ADMIN}catalog/product/{targets['product']}/change/"

    page = client.get(url).content.decode()
    refused = client.post(url, {"name": "Hacked"})

    assert 'name="_save"' not in page
    assert refused.status_code == 403
    assert Product.objects.get(pk=targets["product"]).name == "Lamp"

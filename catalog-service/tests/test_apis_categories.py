"""Categories: public list (keyset pages) and tree; staff create / update / delete."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from catalog.models import Category
from tests.factories import CategoryFactory, ProductFactory
from tests.utils import CATEGORIES, assert_problem, row_counts

pytestmark = pytest.mark.django_db

TREE = f"{CATEGORIES}tree"


def category_json(category: Category) -> dict[str, object]:
    return {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "parent": category.parent.slug if category.parent else None,
    }


# --- reads -----------------------------------------------------------------------------------


def test_list_is_by_name_with_the_parent_slug(api_client: APIClient):
    home = CategoryFactory(name="Home", slug="home")
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen", parent=home)
    audio = CategoryFactory(name="Audio", slug="audio")

    response = api_client.get(CATEGORIES)

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [category_json(audio), category_json(home), category_json(kitchen)],
    }


def test_list_pages(api_client: APIClient):
    categories = [CategoryFactory(name=f"c{i}") for i in range(5)]

    first = api_client.get(CATEGORIES, {"page_size": 2}).json()
    second = api_client.get(first["next"]).json()
    third = api_client.get(second["next"]).json()
    back = api_client.get(second["previous"]).json()

    assert [c["id"] for c in first["results"]] == [categories[0].pk, categories[1].pk]
    assert [c["id"] for c in second["results"]] == [categories[2].pk, categories[3].pk]
    assert [c["id"] for c in third["results"]] == [categories[4].pk]
    assert third["next"] is None
    assert back == first


def test_list_with_a_malformed_cursor_is_400(api_client: APIClient):
    assert_problem(
        api_client.get(CATEGORIES, {"cursor": "%%%"}),
        400,
        "validation-error",
        errors=[{"field": "cursor", "code": "invalid", "message": "Invalid cursor."}],
    )


def test_tree_nests_children_by_name(api_client: APIClient):
    home = CategoryFactory(name="Home", slug="home")
    lighting = CategoryFactory(name="Lighting", slug="lighting", parent=home)
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen", parent=home)
    lamps = CategoryFactory(name="Lamps", slug="lamps", parent=lighting)
    books = CategoryFactory(name="Books", slug="books")

    response = api_client.get(TREE)

    assert response.status_code == 200

    def node(category: Category, *children: dict[str, object]) -> dict[str, object]:
        return {
            "id": category.pk,
            "name": category.name,
            "slug": category.slug,
            "children": list(children),
        }

    assert response.json() == [
        node(books),
        node(home, node(kitchen), node(lighting, node(lamps))),
    ]


def test_tree_of_nothing_is_empty(api_client: APIClient):
    assert api_client.get(TREE).json() == []


def test_detail(api_client: APIClient):
    parent = CategoryFactory()
    child = CategoryFactory(parent=parent)

    response = api_client.get(f"{CATEGORIES}{child.pk}")

    assert response.status_code == 200
    assert response.json() == category_json(child)
    assert_problem(api_client.get(f"{CATEGORIES}999999"), 404, "not-found", errors=[])


# --- writes: permissions ---------------------------------------------------------------------


def test_create_needs_a_token_then_staff(api_client: APIClient, user_client: APIClient):
    body = {"name": "Audio"}

    assert_problem(api_client.post(CATEGORIES, body), 401, "not-authenticated", errors=[])
    assert_problem(user_client.post(CATEGORIES, body), 403, "permission-denied", errors=[])
    assert Category.objects.count() == 0


def test_update_and_delete_need_a_token_then_staff(api_client: APIClient, user_client: APIClient):
    category = CategoryFactory(name="Audio")
    url = f"{CATEGORIES}{category.pk}"

    assert_problem(api_client.patch(url, {"name": "x"}), 401, "not-authenticated")
    assert_problem(user_client.patch(url, {"name": "x"}), 403, "permission-denied")
    assert_problem(api_client.delete(url), 401, "not-authenticated")
    assert_problem(user_client.delete(url), 403, "permission-denied")
    category.refresh_from_db()
    assert category.name == "Audio"


# --- writes: staff ---------------------------------------------------------------------------


def test_staff_creates_a_category_with_a_slug_from_its_name(staff_client: APIClient):
    response = staff_client.post(CATEGORIES, {"name": "Water Sports"})

    assert response.status_code == 201
    category = Category.objects.get()
    assert response.json() == {
        "id": category.pk,
        "name": "Water Sports",
        "slug": "water-sports",
        "parent": None,
    }


def test_staff_creates_a_sub_category(staff_client: APIClient):
    CategoryFactory(slug="outdoors")

    response = staff_client.post(
        CATEGORIES, {"name": "Camping", "slug": "camping-gear", "parent": "outdoors"}
    )

    assert response.status_code == 201
    category = Category.objects.get(slug="camping-gear")
    assert category.parent.slug == "outdoors"
    assert response.json() == category_json(category)


def test_staff_renames_and_moves_a_category(staff_client: APIClient):
    old_parent = CategoryFactory(slug="old")
    new_parent = CategoryFactory(slug="new")
    category = CategoryFactory(name="Boots", slug="boots", parent=old_parent)

    response = staff_client.patch(
        f"{CATEGORIES}{category.pk}", {"name": "Winter boots", "parent": "new"}
    )

    assert response.status_code == 200
    category.refresh_from_db()
    assert (category.name, category.slug, category.parent) == ("Winter boots", "boots", new_parent)
    assert response.json() == category_json(category)


def test_staff_moves_a_category_to_the_top(staff_client: APIClient):
    category = CategoryFactory(parent=CategoryFactory())

    response = staff_client.patch(f"{CATEGORIES}{category.pk}", {"parent": None})

    assert response.status_code == 200
    assert response.json()["parent"] is None
    category.refresh_from_db()
    assert category.parent is None


def test_staff_deletes_an_empty_category(staff_client: APIClient):
    category = CategoryFactory()

    response = staff_client.delete(f"{CATEGORIES}{category.pk}")

    assert response.status_code == 204
    assert response.content == b""
    assert not Category.objects.exists()


@pytest.mark.parametrize("holds", ["product", "sub-category"])
def test_deleting_a_category_in_use_is_409(staff_client: APIClient, holds: str):
    category = CategoryFactory()
    if holds == "product":
        ProductFactory(category=category)
    else:
        CategoryFactory(parent=category)
    before = row_counts()

    response = staff_client.delete(f"{CATEGORIES}{category.pk}")

    assert_problem(
        response,
        409,
        "category-in-use",
        detail="Move or delete its products and sub-categories first.",
        errors=[],
    )
    assert row_counts() == before


def test_deleting_an_unknown_category_is_404(staff_client: APIClient):
    assert_problem(staff_client.delete(f"{CATEGORIES}999999"), 404, "not-found")


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
def test_moving_a_category_under_itself_or_a_descendant_is_400(
    staff_client: APIClient, target: str
):
    root = CategoryFactory(slug="root")
    child = CategoryFactory(slug="child", parent=root)
    CategoryFactory(slug="grandchild", parent=child)
    slug = {"itself": "root", "child": "child", "grandchild": "grandchild"}[target]

    response = staff_client.patch(f"{CATEGORIES}{root.pk}", {"parent": slug})

    assert_problem(
        response,
        400,
        "invalid-category-parent",
        detail="A category cannot be placed under itself or one of its sub-categories.",
        errors=[{"field": "parent", "code": "cycle", "message": "Would make a cycle."}],
    )
    root.refresh_from_db()
    assert root.parent is None


def test_duplicate_slug_is_409(staff_client: APIClient):
    CategoryFactory(slug="audio")
    other = CategoryFactory(slug="video")
    before = row_counts()

    created = staff_client.post(CATEGORIES, {"name": "Audio"})
    updated = staff_client.patch(f"{CATEGORIES}{other.pk}", {"slug": "audio"})

    expected = [{"field": "slug", "code": "unique", "message": "Already taken."}]
    assert_problem(created, 409, "duplicate", detail="Already taken: slug.", errors=expected)
    assert_problem(updated, 409, "duplicate", detail="Already taken: slug.", errors=expected)
    assert row_counts() == before
    other.refresh_from_db()
    assert other.slug == "video"


def test_unknown_parent_is_400(staff_client: APIClient):
    response = staff_client.post(CATEGORIES, {"name": "Audio", "parent": "nope"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "parent",
                "code": "does_not_exist",
                "message": "Object with slug=nope does not exist.",
            }
        ],
    )
    assert not Category.objects.exists()

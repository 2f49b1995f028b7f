import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from chassis.openapi import AutoSchema

PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}


@pytest.fixture(scope="module")
def generation():
    """The test urlconf's schema, and whether drf-spectacular warned while generating it."""
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(urlconf="tests.urls").get_schema(request=None, public=True)
    return schema, bool(GENERATOR_STATS)


@pytest.fixture
def schema(generation):
    return generation[0]


def test_generation_is_clean(generation):
    """No warning: in particular no two serializers competing for one component name."""
    assert generation[1] is False


def responses(schema, path: str, method: str) -> dict:
    return schema["paths"][path][method]["responses"]


def problem_codes(schema, path: str, method: str) -> dict[str, str]:
    """{status: description} of the responses documented as problem documents."""
    return {
        code: response["description"]
        for code, response in responses(schema, path, method).items()
        if response.get("content") == {"application/problem+json": PROBLEM}
    }


def test_body_operations_document_400_and_413(schema):
    assert problem_codes(schema, "/api/v1/orders/", "post") == {
        "400": "Invalid input (malformed JSON, wrong types, failed validation).",
        "413": "Request body too large.",
    }


def test_authenticated_operation_documents_401(schema):
    assert problem_codes(schema, "/api/v1/me/", "get") == {
        "401": "Missing, invalid or expired credentials."
    }
    assert schema["paths"]["/api/v1/me/"]["get"]["security"] == [{"jwtAuth": []}]


def test_staff_operation_documents_401_and_403(schema):
    assert problem_codes(schema, "/api/v1/staff/report/", "get") == {
        "401": "Missing, invalid or expired credentials.",
        "403": "Authenticated but not allowed.",
    }


def test_path_parameters_document_404(schema):
    assert problem_codes(schema, "/api/v1/items/{item_id}/", "get") == {"404": "No such resource."}


def test_throttled_operation_documents_429(schema):
    assert problem_codes(schema, "/api/v1/throttled/", "get") == {
        "429": "Rate limit exceeded; see Retry-After."
    }


def test_public_read_documents_no_error(schema):
    assert problem_codes(schema, "/api/v1/logged/", "get") == {}


def test_explicit_responses_win(schema):
    documented = responses(schema, "/api/v1/stock/reserve/", "post")

    assert documented["400"]["description"] == "Not enough stock."
    assert set(documented) == {"204", "400", "413"}


def test_problem_component(schema):
    problem = schema["components"]["schemas"]["Problem"]

    assert sorted(problem["properties"]) == [
        "correlation_id",
        "detail",
        "errors",
        "status",
        "title",
        "type",
    ]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemItem"}
    assert schema["components"]["securitySchemes"] == {
        "jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }


def test_nested_serializers_are_named_after_their_view(schema):
    assert sorted(schema["components"]["schemas"]) == [
        "OrderCancelInputLineRequest",
        "OrderCancelInputRequest",
        "OrderPlaceInput",
        "OrderPlaceInputLine",
        "OrderPlaceInputLineRequest",
        "OrderPlaceInputRequest",
        "Problem",
        "ProblemItem",
    ]
    body = schema["paths"]["/api/v1/orders/"]["post"]["requestBody"]["content"]
    assert body["application/json"] == {
        "schema": {"$ref": "#/components/schemas/OrderPlaceInputRequest"}
    }


def test_serializer_names():
    class CartApi:
        class InputSerializer(serializers.Serializer):
            class ItemSerializer(serializers.Serializer):
                pass

    class PlainSerializer(serializers.Serializer):
        pass

    name = AutoSchema().get_serializer_name

    assert name(CartApi.InputSerializer(), "request") == "CartInput"
    assert name(CartApi.InputSerializer.ItemSerializer(), "response") == "CartInputItem"
    assert name(PlainSerializer(), "response") == "PlainSerializer"


def test_input_serializers_refuse_additional_properties_in_the_schema(schema):
    components = schema["components"]["schemas"]
    assert components["OrderPlaceInputRequest"]["additionalProperties"] is False
    assert components["OrderPlaceInputLineRequest"]["additionalProperties"] is False
    assert "additionalProperties" not in components["OrderPlaceInput"]  # responses stay open

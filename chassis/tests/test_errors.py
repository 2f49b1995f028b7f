import pytest
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.test import Client
from django_guid import clear_guid, set_guid
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail

from chassis.errors import exception_handler, flatten_errors, problem

ORDERS = "/api/v1/orders/"


def problem_body(response, status: int, code: str, title: str, detail: str, errors=()):
    """The problem document ``response`` must carry, correlation id taken from its header."""
    return {
        "type": f"urn:problem-type:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": list(errors),
        "correlation_id": response["X-Request-ID"],
    }


def assert_problem(response, status: int, code: str, title: str, detail: str, errors=()) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == problem_body(response, status, code, title, detail, errors)


def error(field, code, message):
    return {"field": field, "code": code, "message": message}


@pytest.fixture
def guid():
    set_guid("unit-test-guid")
    yield "unit-test-guid"
    clear_guid()


# --- problem documents over HTTP -------------------------------------------------------------


def test_valid_input_passes(api_client):
    body = {"email": "ada@example.com", "lines": [{"sku": "A-1", "quantity": 2}]}

    response = api_client.post(ORDERS, body, format="json")

    assert response.status_code == 201
    assert response.json() == body


def test_validation_error_lists_every_field_with_dotted_paths(api_client):
    body = {
        "email": "nope",
        "lines": [{"sku": "A-1", "quantity": 1, "qty": 2}, {"sku": "TOO-LONG-SKU", "quantity": 0}],
        "colour": "red",
    }

    response = api_client.post(ORDERS, body, format="json")

    assert_problem(
        response,
        400,
        "validation-error",
        "Invalid input.",
        "The request did not pass validation.",
        [
            error("email", "invalid", "Enter a valid email address."),
            error("lines.0.qty", "unknown_field", "Unknown field."),
            error("lines.1.sku", "max_length", "Ensure this field has no more than 8 characters."),
            error(
                "lines.1.quantity", "min_value", "Ensure this value is greater than or equal to 1."
            ),
            error("colour", "unknown_field", "Unknown field."),
        ],
    )


def test_missing_fields_are_each_reported(api_client):
    response = api_client.post(ORDERS, {}, format="json")

    assert_problem(
        response,
        400,
        "validation-error",
        "Invalid input.",
        "The request did not pass validation.",
        [
            error("email", "required", "This field is required."),
            error("lines", "required", "This field is required."),
        ],
    )


def test_non_field_error_has_a_null_field(api_client):
    body = {"email": "ada@example.com", "lines": [{"sku": "A", "quantity": 1}] * 2}

    response = api_client.post(ORDERS, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [error(None, "duplicate", "Each SKU may appear once.")]


def test_nested_list_of_the_wrong_type(api_client):
    response = api_client.post(ORDERS, {"email": "a@example.com", "lines": "A"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        error("lines", "not_a_list", 'Expected a list of items but got type "str".')
    ]


def test_unknown_fields_only(api_client):
    body = {"email": "ada@example.com", "lines": [], "b": 1, "a": 2}

    response = api_client.post(ORDERS, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        error("a", "unknown_field", "Unknown field."),
        error("b", "unknown_field", "Unknown field."),
    ]


def test_conflict(api_client):
    response = api_client.post("/api/v1/orders/cancel/", {"lines": []}, format="json")

    assert_problem(
        response,
        409,
        "conflict",
        "The request conflicts with the current state.",
        "The order has shipped.",
        [error(None, "shipped", "Shipped on 2026-01-02.")],
    )


def test_domain_error_subclass(api_client):
    response = api_client.post("/api/v1/stock/reserve/", {}, format="json")

    assert_problem(response, 400, "stock-short", "Not enough stock.", "Only 2 left of SKU-1.")


def test_not_authenticated(api_client):
    response = api_client.get("/api/v1/me/")

    assert_problem(
        response,
        401,
        "not-authenticated",
        "Authentication required.",
        "Authentication credentials were not provided.",
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_unknown_url_is_a_json_404(api_client):
    response = api_client.get("/no/such/page/")

    assert_problem(response, 404, "not-found", "Not found.", "No resource matches the request.")


def test_http404_in_a_view(api_client):
    response = api_client.get("/api/v1/items/2/")

    assert_problem(response, 404, "not-found", "Not found.", "No resource matches the request.")
    assert api_client.get("/api/v1/items/1/").json() == {"id": 1}


def test_method_not_allowed(api_client):
    response = api_client.get(ORDERS)

    assert_problem(
        response, 405, "method-not-allowed", "Method not allowed.", 'Method "GET" not allowed.'
    )
    assert response["Allow"] == "POST, OPTIONS"


def test_unsupported_media_type(api_client):
    response = api_client.post(ORDERS, "email=a", content_type="text/plain")

    assert_problem(
        response,
        415,
        "unsupported-media-type",
        "Unsupported media type.",
        'Unsupported media type "text/plain" in request.',
    )


def test_not_acceptable(api_client):
    response = api_client.get("/api/v1/items/1/", HTTP_ACCEPT="application/xml")

    assert_problem(
        response,
        406,
        "not-acceptable",
        "Not acceptable.",
        "Could not satisfy the request Accept header.",
    )


def test_crash_is_a_json_500():
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/crash/")

    assert_problem(
        response, 500, "internal-error", "Internal server error.", "An unexpected error occurred."
    )


def test_django_permission_denied_uses_handler403(api_client):
    response = api_client.get("/django/forbidden/")

    assert_problem(
        response, 403, "permission-denied", "Permission denied.", "You may not perform this action."
    )


def test_suspicious_operation_uses_handler400(api_client):
    response = api_client.get("/django/suspicious/")

    assert_problem(
        response, 400, "bad-request", "Invalid input.", "The request could not be understood."
    )


def test_disallowed_host_is_a_json_400(api_client):
    response = api_client.get("/api/v1/items/1/", HTTP_HOST="evil.example")

    assert_problem(
        response, 400, "bad-request", "Invalid input.", "The request could not be understood."
    )


def test_form_body_over_the_limit_is_a_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10

    response = api_client.post(
        "/django/form/", "field=" + "x" * 20, content_type="application/x-www-form-urlencoded"
    )

    assert_problem(
        response,
        413,
        "payload-too-large",
        "Payload too large.",
        "Request body exceeds the size limit.",
    )


# --- exception_handler and problem() as functions --------------------------------------------


def test_problem_document(guid):
    assert problem(422, code="order_closed", detail="Closed.") == {
        "type": "urn:problem-type:order-closed",
        "title": "Unprocessable request.",
        "status": 422,
        "detail": "Closed.",
        "errors": [],
        "correlation_id": "unit-test-guid",
    }
    assert problem(418, code="teapot", detail="Short and stout.", title="Teapot.")["title"] == (
        "Teapot."
    )
    assert problem(418, code="teapot", detail="x")["title"] == "Error."


def test_handler_turns_request_data_too_big_into_413(guid):
    response = exception_handler(RequestDataTooBig("too big"), {})

    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert response.data == {
        "type": "urn:problem-type:payload-too-large",
        "title": "Payload too large.",
        "status": 413,
        "detail": "Request body exceeds the size limit.",
        "errors": [],
        "correlation_id": "unit-test-guid",
    }


def test_handler_turns_suspicious_operation_into_400(guid):
    response = exception_handler(SuspiciousOperation("Bad header."), {})

    assert (response.status_code, response.data["type"], response.data["detail"]) == (
        400,
        "urn:problem-type:parse-error",
        "Bad header.",
    )


def test_handler_reads_dict_details(guid):
    exc = exceptions.AuthenticationFailed(
        {"detail": "Given token not valid", "code": "token_not_valid", "messages": []}
    )

    response = exception_handler(exc, {})

    assert (response.status_code, response.data["type"], response.data["detail"]) == (
        401,
        "urn:problem-type:token-not-valid",
        "Given token not valid",
    )


def test_handler_reads_list_details(guid):
    response = exception_handler(exceptions.PermissionDenied(["Closed.", "Locked."]), {})

    assert response.status_code == 403
    assert response.data["detail"] == "You do not have permission to perform this action."
    assert response.data["errors"] == [
        error(None, "permission_denied", "Closed."),
        error(None, "permission_denied", "Locked."),
    ]


def test_handler_leaves_unexpected_exceptions_to_django():
    assert exception_handler(ValueError("bug"), {}) is None


# --- flatten_errors ---------------------------------------------------------------------------


def test_flatten_plain_message():
    assert flatten_errors(ErrorDetail("Bad.", code="bad")) == [error(None, "bad", "Bad.")]


def test_flatten_list_of_messages_without_codes():
    assert flatten_errors(["One.", "Two."]) == [
        error(None, "invalid", "One."),
        error(None, "invalid", "Two."),
    ]


def test_flatten_fields_and_non_field_errors():
    detail = {
        "non_field_errors": [ErrorDetail("Mismatch.", code="mismatch")],
        "email": [ErrorDetail("Taken.", code="unique"), ErrorDetail("Odd.", code="odd")],
    }

    assert flatten_errors(detail) == [
        error(None, "mismatch", "Mismatch."),
        error("email", "unique", "Taken."),
        error("email", "odd", "Odd."),
    ]


def test_django_form_non_field_errors_have_no_field():
    """django-filter's form errors arrive keyed ``__all__`` (Django's NON_FIELD_ERRORS)."""
    detail = {"__all__": [ErrorDetail("Unknown query parameter 'x'.", code="unknown")]}

    assert flatten_errors(detail) == [error(None, "unknown", "Unknown query parameter 'x'.")]


def test_flatten_nested_lists_and_dicts_dotted():
    detail = {
        "lines": [
            {},
            {"quantity": [ErrorDetail("Too small.", code="min_value")]},
            {"non_field_errors": [ErrorDetail("Bad line.", code="invalid")]},
        ],
        "address": {"city": {"zip": [ErrorDetail("Required.", code="required")]}},
        "tags": {3: [ErrorDetail("Too long.", code="max_length")]},
    }

    assert flatten_errors(detail) == [
        error("lines.1.quantity", "min_value", "Too small."),
        error("lines.2", "invalid", "Bad line."),
        error("address.city.zip", "required", "Required."),
        error("tags.3", "max_length", "Too long."),
    ]


def test_flatten_top_level_list_of_objects():
    detail = [{}, {"sku": [ErrorDetail("Unknown.", code="unknown")]}]

    assert flatten_errors(detail) == [error("1.sku", "unknown", "Unknown.")]


def test_flatten_detail_key_is_not_a_field():
    assert flatten_errors({"detail": ErrorDetail("Nope.", code="x")}) == [error(None, "x", "Nope.")]


def test_flatten_nothing():
    assert flatten_errors({}) == []
    assert flatten_errors([]) == []

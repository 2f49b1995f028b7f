import copy
import io
import json
import logging
import re
from logging.config import DictConfigurator

import pytest
from django.conf import settings

from chassis.conf import logging_config


@pytest.fixture
def json_log_lines():
    """A handler built from the chassis LOGGING's ``json`` formatter and filter, on the root."""
    configurator = DictConfigurator(copy.deepcopy(settings.LOGGING))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        configurator.configure_formatter(configurator.config["formatters"]["json"])
    )
    for name in ("correlation_id", "trace_ids"):
        handler.addFilter(configurator.configure_filter(configurator.config["filters"][name]))
    root = logging.getLogger()
    root.addHandler(handler)

    def lines():
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)


def test_incoming_request_id_is_echoed(api_client):
    response = api_client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="gw-7f3a-0001")

    assert response["X-Request-ID"] == "gw-7f3a-0001"
    assert response.json()["correlation_id"] == "gw-7f3a-0001"
    assert response["Access-Control-Expose-Headers"] == "X-Request-ID"


def test_missing_request_id_is_generated(api_client):
    first = api_client.get("/api/v1/no-such-thing/")
    second = api_client.get("/api/v1/no-such-thing/")

    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first.json()["correlation_id"] == first["X-Request-ID"]
    assert second["X-Request-ID"] != first["X-Request-ID"]


def test_request_logs_are_json_lines_with_the_correlation_id(api_client, json_log_lines):
    response = api_client.get("/api/v1/logged/", HTTP_X_REQUEST_ID="corr-42")

    assert response.status_code == 200
    [line] = [line for line in json_log_lines() if line["message"] == "probe.logged"]
    assert line["correlation_id"] == "corr-42"
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.apis"
    assert line["service"] == "chassis"
    assert line["order_id"] == 7
    assert (line["trace_id"], line["span_id"]) == ("", "")  # tracing is off
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line["time"])


def test_logging_config_shape():
    config = logging_config(level="WARNING", json=True, service="orders")

    assert config["root"] == {"handlers": ["stdout"], "level": "WARNING"}
    assert config["handlers"]["stdout"]["formatter"] == "json"
    assert config["handlers"]["stdout"]["filters"] == ["correlation_id", "trace_ids"]
    assert config["formatters"]["json"]["static_fields"] == {"service": "orders"}
    assert config["loggers"]["django.request"] == {"level": "ERROR"}


def test_console_format_carries_the_correlation_id():
    config = logging_config(level="INFO", json=False, service="orders")
    configurator = DictConfigurator(config)
    formatter = configurator.configure_formatter(configurator.config["formatters"]["console"])
    record = logging.LogRecord("orders.api", logging.INFO, __file__, 1, "placed", None, None)
    record.correlation_id = "c-1"

    assert config["handlers"]["stdout"]["formatter"] == "console"
    assert formatter.format(record).endswith(" INFO [c-1] orders.api: placed")

"""gunicorn's access line as the chassis writes it (chassis.gunicorn_conf.AccessLog): the
fields of ``access_log_format``, valid JSON whatever the path or the correlation id holds."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from chassis.gunicorn_conf import AccessLog, gunicorn_settings


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Writer(AccessLog):
    """The mixin over the two attributes gunicorn's Logger gives it."""

    service = "users"

    def __init__(self, enabled: bool = True) -> None:
        self.access_log_enabled = enabled
        self.access_log = logging.getLogger("test.gunicorn.access")
        self.access_log.propagate = False
        self.handler = Lines()
        self.access_log.handlers = [self.handler]
        self.access_log.setLevel(logging.INFO)


def response(status: Any = "200 OK", headers: Any = None, sent: Any = 412) -> Any:
    headers = (
        [("Content-Type", "application/json"), ("X-Request-ID", "abc-1")]
        if headers is None
        else headers
    )
    return SimpleNamespace(status=status, headers=headers, sent=sent)


ENVIRON = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/users/me", "REMOTE_ADDR": "127.0.0.1"}


def test_the_line_has_the_format_strings_fields_in_its_order() -> None:
    writer = Writer()
    writer.access(response(), None, ENVIRON, timedelta(seconds=1, microseconds=234))
    [line] = writer.handler.lines
    entry = json.loads(line)
    assert entry.pop("time").startswith("[")
    assert entry == {
        "level": "INFO",
        "logger": "gunicorn.access",
        "service": "users",
        "method": "GET",
        "path": "/api/v1/users/me",
        "status": 200,
        "bytes": "412",
        "duration_us": 1_000_234,
        "remote": "127.0.0.1",
        "correlation_id": "abc-1",
    }
    assert line.startswith('{"time":"[')
    assert line.endswith('"correlation_id":"abc-1"}')


def test_quotes_backslashes_and_control_characters_stay_valid_json() -> None:
    writer = Writer()
    environ = {**ENVIRON, "PATH_INFO": '/a"b\\c\n\x00\xe9'}
    writer.access(response(headers=[]), None, environ, timedelta(microseconds=5))
    entry = json.loads(writer.handler.lines[0])
    assert entry["path"] == '/a"b\\c\n\x00\xe9'
    assert entry["correlation_id"] == "-"  # no X-Request-ID answered
    assert entry["duration_us"] == 5


def test_an_integer_status_and_nothing_sent_are_written_as_gunicorn_would() -> None:
    writer = Writer()
    writer.access(response(status=404, sent=None), None, {}, timedelta(0))
    entry = json.loads(writer.handler.lines[0])
    assert (entry["status"], entry["bytes"], entry["method"], entry["path"]) == (404, "-", "-", "-")


def test_no_line_when_access_logging_is_off() -> None:
    writer = Writer(enabled=False)
    writer.access(response(), None, ENVIRON, timedelta(0))
    assert writer.handler.lines == []


def test_without_gunicorn_installed_the_settings_name_its_default_logger() -> None:
    # The chassis's own environment has no gunicorn: the settings still build.
    assert gunicorn_settings("users")["logger_class"] == "gunicorn.glogging.Logger"

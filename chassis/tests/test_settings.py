"""chassis.settings: one CHASSIS namespace with defaults, refusing unknown keys, reloaded on
setting_changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chassis.settings import DEFAULTS, ChassisSettings, chassis_settings
from chassis.testing import chassis_with


def test_a_value_the_service_sets_wins_and_the_others_are_the_defaults():
    conf = ChassisSettings({"SERVICE_NAME": "orders", "EVENTS": {"MAX_RETRIES": 9}})

    assert conf.SERVICE_NAME == "orders"
    assert conf.EVENTS.MAX_RETRIES == 9
    assert conf.EVENTS["RELAY_BATCH"] == 100
    assert dict(conf.JWT) == DEFAULTS["JWT"]
    assert conf.HEALTH.BROKER_CHECK_SECONDS == 30


def test_the_test_project_settings_are_read():
    assert chassis_settings.SERVICE_NAME == "chassis"
    assert Path(__file__).parent / "event_schemas" == chassis_settings.EVENTS.SCHEMAS_DIR
    consumed = {"test.happened": "chassis", "test.failed": "chassis"}
    assert consumed == chassis_settings.EVENTS.CONSUMES
    assert chassis_settings.EVENTS.MAX_RETRIES == 4


def test_a_misspelt_name_in_code_raises_naming_it():
    conf = ChassisSettings({})

    with pytest.raises(AttributeError, match=r"^Invalid chassis setting: EVENT$"):
        _ = conf.EVENT
    with pytest.raises(AttributeError, match=r"^Invalid chassis setting: EVENTS\.MAX_RETRY$"):
        _ = conf.EVENTS.MAX_RETRY
    with pytest.raises(KeyError, match=r"^'Invalid chassis setting: JWT\.JWKS'$"):
        _ = conf.JWT["JWKS"]


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (
            {"EVENT": {}},
            r"^Unknown chassis setting CHASSIS\['EVENT'\] \(known: BACKOFFICE, EVENTS, HEALTH, ",
        ),
        (
            {"EVENTS": {"MAX_RETRY": 3}},
            r"^Unknown chassis setting CHASSIS\['EVENTS'\]\['MAX_RETRY'\] \(known: "
            r"BROKER_COOLDOWN_SECONDS, BROKER_USER_FORMAT, CONSUMES, ",
        ),
        ({"JWT": ["JWKS_URL"]}, r"^CHASSIS\['JWT'\] must be a dict, not list$"),
        (["EVENTS"], r"^CHASSIS must be a dict, not list$"),
    ],
)
def test_an_unknown_or_malformed_key_in_the_service_settings_is_refused(user, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        ChassisSettings(user).validate()


def test_the_chassis_app_validates_at_start_up():
    """apps.py's ready() runs validate(): a start with a typo fails, naming the key."""
    from django.apps import apps

    with (
        override_settings(CHASSIS=chassis_with(SSO={"TOKEN_ULR": "https://users/token"})),
        pytest.raises(ImproperlyConfigured, match=r"CHASSIS\['SSO'\]\['TOKEN_ULR'\]"),
    ):
        apps.get_app_config("chassis").ready()


def test_values_are_read_again_when_the_setting_changes():
    assert chassis_settings.EVENTS.RELAY_BATCH == 100

    with override_settings(CHASSIS=chassis_with(EVENTS={"RELAY_BATCH": 7})):
        assert chassis_settings.EVENTS.RELAY_BATCH == 7

    assert chassis_settings.EVENTS.RELAY_BATCH == 100

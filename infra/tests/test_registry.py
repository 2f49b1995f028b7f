"""The service registry (infra/services.toml) against the tree: the directories it names, the
events each service consumes and publishes, the ports, the gateway's services. No platform: a
service's settings are read by importing them in its own virtual environment."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REGISTRY, ROOT
from registry import RegistryError, Service, load_services

GATEWAY_PORTS = {8000, 8100}  # the gateway and its status/metrics listener (`make up`)
# Settings are imported as in production (DEBUG off); what production requires is given a
# throwaway value: nothing is connected to.
SETTINGS_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "SECRET_KEY": "registry-check-only-" + "x" * 40,
    "DEBUG": "false",
    "DATABASE_URL": "sqlite:///:memory:",
    "CELERY_BROKER_URL": "memory://",
    "JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",
    "USERS_TOKEN_URL": "http://127.0.0.1:9/api/v1/auth/token",
}
READ_CONSUMED = "import json; from django.conf import settings; print(json.dumps(settings.{}))"


def test_every_service_directory_is_registered_and_every_registered_directory_exists() -> None:
    on_disk = sorted(path.name for path in ROOT.glob("*-service") if path.is_dir())
    assert sorted(service.dir for service in REGISTRY.values()) == on_disk


def consumed(service: Service, setting: str = "EVENTS_CONSUMED") -> dict[str, str]:
    """The service's ``EVENTS_CONSUMED``: each consumed type and the service producing it."""
    part = ROOT / service.dir
    run = subprocess.run(
        [part / ".venv/bin/python", "-c", READ_CONSUMED.format(setting)],
        cwd=part,
        env=SETTINGS_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("name", REGISTRY)
def test_consumes_equals_the_services_events_consumed_setting(name: str) -> None:
    assert list(REGISTRY[name].consumes) == list(consumed(REGISTRY[name]))


@pytest.mark.parametrize("name", REGISTRY)
def test_the_producer_a_service_trusts_for_each_type_is_the_one_that_publishes_it(
    name: str,
) -> None:
    """The consumer parks an event from anyone but the producer it names (chassis.events.
    producers): that producer owns the type's schema and publishes its prefix."""
    owners = {t: owner for owner, s in REGISTRY.items() for t in owned_event_types(s)}
    trusted = consumed(REGISTRY[name])
    assert trusted == {t: owners.get(t) for t in trusted}
    for event_type, producer in trusted.items():
        assert event_type.split(".", 1)[0] in REGISTRY[producer].publishes


def test_ports_are_distinct_and_leave_the_gateways_free() -> None:
    ports = [service.port for service in REGISTRY.values()]
    assert len(set(ports)) == len(ports), ports
    assert set(ports) & GATEWAY_PORTS == set()


def test_every_service_has_a_kong_service_named_like_its_directory() -> None:
    document = yaml.safe_load((ROOT / "gateway-config" / "kong.yml").read_text())
    kong = {service["name"]: service["url"] for service in document["services"]}
    # In containers each service answers on 8000 at its own name (compose, Kubernetes).
    assert kong == {s.dir: f"http://{s.dir}:8000" for s in REGISTRY.values()}


def owned_event_types(service: Service) -> list[str]:
    """The event types whose schemas the service owns: <dir>/<app>/event_schemas/<type>.vN.json"""
    schemas = (ROOT / service.dir).glob("*/event_schemas/*.json")
    return sorted(path.name.rsplit(".", 2)[0] for path in schemas)


@pytest.mark.parametrize("name", REGISTRY)
def test_publishes_covers_every_event_schema_the_service_owns(name: str) -> None:
    service = REGISTRY[name]
    owned = owned_event_types(service)
    assert owned or not service.publishes, f"{name} publishes {service.publishes}: no schemas"
    assert [t for t in owned if t.split(".", 1)[0] not in service.publishes] == []


def test_every_consumed_event_has_a_producer_that_publishes_it() -> None:
    owners = {t: name for name, s in REGISTRY.items() for t in owned_event_types(s)}
    consumed_types = {t for service in REGISTRY.values() for t in service.consumes}
    assert sorted(consumed_types - owners.keys()) == []


# --- the loader ----------------------------------------------------------------------------


ENTRY = """
[services.payments]
dir = "payments-service"
port = 8104
api = "/api/v1/payments/"
publishes = ["payment"]
consumes = ["order.placed"]
prepare = [["seed_methods", "--dir", "{var}/payments"]]
fuzz = 10
"""


def test_the_loader_reads_an_entry_with_its_port_overridable(tmp_path: Path) -> None:
    registry = tmp_path / "services.toml"
    registry.write_text(ENTRY)
    expected = Service(
        name="payments",
        dir="payments-service",
        port=8104,
        api="/api/v1/payments/",
        publishes=("payment",),
        consumes=("order.placed",),
        prepare=(("seed_methods", "--dir", "{var}/payments"),),
        fuzz=10,
    )
    assert load_services(registry, env={}) == {"payments": expected}
    moved = load_services(registry, env={"PAYMENTS_PORT": "9104"})["payments"]
    assert (moved.port, moved.env_prefix) == (9104, "PAYMENTS_")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("fuzz = 10", ""), "services.payments: missing keys ['fuzz'], unknown keys []"),
        (("fuzz = 10", "fuzz = 10\nowner = 'x'"), "missing keys [], unknown keys ['owner']"),
        (("port = 8104", 'port = "8104"'), "services.payments.port: an integer, got '8104'"),
        (('publishes = ["payment"]', 'publishes = "payment"'), "publishes: a list of strings"),
    ],
)
def test_the_loader_refuses_a_malformed_entry_naming_it(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    registry = tmp_path / "services.toml"
    registry.write_text(ENTRY.replace(*change))
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_services(registry, env={})

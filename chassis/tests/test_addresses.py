"""The client's real address: X-Forwarded-For believed only for hops from trusted proxies."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from chassis.addresses import client_address, trusted_networks
from chassis.testing import chassis_with


@pytest.fixture
def trust(settings):
    def set_trusted(*networks: str) -> None:
        settings.CHASSIS = chassis_with(TRUSTED_PROXIES=list(networks))

    return set_trusted


def address(remote: str, forwarded: str | None = None) -> str:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_nothing_is_trusted_by_default():
    assert address("203.0.113.9", "198.51.100.7") == "203.0.113.9"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.0.0.254", "198.51.100.7", "198.51.100.7"),  # through the gateway
        ("10.0.0.254", None, "10.0.0.254"),  # the gateway itself
        ("10.0.0.254", "spoof, 198.51.100.7", "198.51.100.7"),  # the client's own entry
        ("10.0.0.254", "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two trusted hops
        ("10.0.0.254", "10.0.0.9, 10.0.0.8", "10.0.0.9"),  # all trusted: the leftmost
        ("10.0.0.254", "198.51.100.7, not-an-ip", "10.0.0.254"),  # garbage: stop there
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # around the gateway: ignored
        ("10.0.0.254", " 2001:db8::7 ", "2001:db8::7"),
        ("::1", "198.51.100.7", "::1"),  # IPv6 peer, IPv4 networks: not trusted
    ],
)
def test_forwarded_hops_are_believed_only_from_trusted_addresses(
    trust, remote, forwarded, expected
):
    trust("10.0.0.0/24")

    assert address(remote, forwarded) == expected


def test_a_malformed_network_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        trusted_networks(["10.0.0.0/33"])
    with pytest.raises(ImproperlyConfigured, match="list of networks"):
        trusted_networks("10.0.0.0/8")

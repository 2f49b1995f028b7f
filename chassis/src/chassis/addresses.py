"""The client's real address: the socket's peer, or what trusted proxies say it was.

``CHASSIS["TRUSTED_PROXIES"]`` lists the networks (CIDR) of the proxies in front of a service:
the gateway, and for users-service also the services whose admin single sign-on calls its
token endpoint (chassis.sso). Nothing is trusted by default: the socket's peer is the client.

A request from a trusted address may name its client in ``X-Forwarded-For``. The header is
read from the right, one hop at a time, and each hop is believed only while the address that
appended it is trusted: the rightmost entry was written by the peer (``REMOTE_ADDR``), the one
before it by that entry's host, and so on. The walk stops at the first untrusted address (the
client: whatever it wrote further left is its own word) or at an entry that is not an IP
address. So a client cannot pick its address by sending the header itself, through the
gateway or around it.

Throttles (chassis.throttling) count per :func:`client_address`; the admin single sign-on
passes it on to users-service (chassis.sso).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from chassis.settings import chassis_settings

__all__ = ["client_address", "trusted_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse(networks: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(network.strip(), strict=False) for network in networks)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


def trusted_networks(networks: Iterable[str] | None = None) -> tuple[Network, ...]:
    """The trusted proxy networks (``networks``, else the setting), parsed; an entry that is
    not a network is an ImproperlyConfigured naming it."""
    if networks is None:
        networks = chassis_settings.TRUSTED_PROXIES
    if isinstance(networks, str):
        raise ImproperlyConfigured("TRUSTED_PROXIES must be a list of networks, not a string")
    return _parse(tuple(str(network) for network in networks))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: Any) -> str:
    """The address of the client that sent ``request`` (a Django or DRF request), as the
    trusted proxies in front reported it (see the module's docstring)."""
    meta = request.META
    address = str(meta.get("REMOTE_ADDR") or "")
    networks = trusted_networks()
    if not networks:
        return address
    hops = [hop for hop in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    current = _ip(address)
    while current is not None and hops and any(current in net for net in networks):
        current = _ip(hops.pop())
        if current is None:
            break  # garbage where an address belongs: stay with the last trusted hop
        address = str(current)
    return address

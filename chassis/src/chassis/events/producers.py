"""Who produced an event: the producer its contract names, verified by the broker.

A consumer trusts an event only from the service its contract names
(``CHASSIS["EVENTS"]["CONSUMES"]`` maps each consumed type to its producer, e.g.
``{"user.deactivated": "users"}``). The envelope's ``producer`` is written by whoever
published the message, so it proves nothing by itself: every publish carries the AMQP
``user_id`` property, set to the publishing connection's broker user, and RabbitMQ refuses
(``PRECONDITION_FAILED``, the channel is closed) a message whose ``user_id`` is not the user
of the connection that sent it. The consumer compares that verified user with the broker
user of the contract's producer, and parks (never applies) an event that fails:
:func:`producer_problem`.

Broker users are named ``BROKER_USER_FORMAT`` (default ``"{vhost}.{service}"``, as the local
runner creates them: ``platform.users``, ``platform.orders``, ...). Which mode applies is read
from this process's own broker URL (no setting per producer):

* one user per service (the consumer's own user is the format applied to its own name): the
  expected user is the format applied to the producer (``platform.users`` for users). A
  service holding another's credentials is the only way to pass; a service writing straight
  into another's queue through the default exchange (``amq.default``, which the broker
  permissions must allow for retries) is caught here: its ``user_id`` is its own.
* one shared user (``guest`` in the unit tests, or a broker without rabbitmqctl): the expected
  user is that shared user. The check then only proves that the message came through an
  authenticated connection of the platform and carried its ``user_id``; it cannot tell the
  services apart (everyone holds the credentials). This is the limit of a shared account.
* a transport that verifies nothing (the embedded filesystem transport, kombu's memory
  transport): no broker user exists; only the envelope's ``producer`` is compared with the
  contract. Anyone who can write the broker's folder can also write the services' SQLite
  files: the embedded platform is a single-user development set-up, never a trust boundary.

This service's own broker user is accepted too: its retries and staff's redrives come back
to its own queue from its own connection. A redrive of an event parked for its producer is
refused (:func:`chassis.events.consumer.redrive`), so a forged event cannot be laundered that
way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from celery import current_app
from kombu import Connection

from chassis.events.conf import service_name
from chassis.events.envelope import Envelope
from chassis.settings import chassis_settings

__all__ = [
    "UNVERIFIED_PRODUCER",
    "BrokerIdentity",
    "broker_identity",
    "producer_problem",
    "publish_properties",
]

# The first word of a parked event's error when its producer failed the check.
UNVERIFIED_PRODUCER = "UnverifiedProducer"

# Transports whose broker checks the ``user_id`` property against the connection's user.
_VERIFYING_DRIVERS = frozenset({"amqp"})


@dataclass(frozen=True)
class BrokerIdentity:
    """A process's broker account: whether the broker verifies ``user_id``, the user it
    connects as, and the broker user each service publishes as."""

    verifies: bool
    own_user: str
    vhost: str
    service: str
    user_format: str

    @property
    def per_service(self) -> bool:
        """One broker user per service (else one shared user, or none at all)."""
        return self.verifies and self.own_user == self._format(self.service)

    def user_of(self, service: str) -> str:
        """The broker user ``service`` publishes as (the shared user when there is one)."""
        return self._format(service) if self.per_service else self.own_user

    def _format(self, service: str) -> str:
        return self.user_format.format(vhost=self.vhost, service=service)


def broker_identity() -> BrokerIdentity:
    """The :class:`BrokerIdentity` of this process, read from its broker URL (opens nothing)."""
    conf = current_app.conf
    return _identity(
        str(conf.broker_url or ""),
        str(conf.broker_transport or ""),
        service_name(),
        str(chassis_settings.EVENTS.BROKER_USER_FORMAT),
    )


@lru_cache(maxsize=8)  # keyed by what it is read from: settings changed in tests re-read it
def _identity(url: str, transport: str, service: str, user_format: str) -> BrokerIdentity:
    # The URL parsed and the transport class loaded: nothing is opened.
    with Connection(url, transport=transport or None) as connection:
        driver = connection.transport.driver_type
        return BrokerIdentity(
            verifies=driver in _VERIFYING_DRIVERS,
            own_user=str(connection.userid or ""),
            vhost=str(connection.virtual_host or ""),
            service=service,
            user_format=user_format,
        )


def publish_properties() -> dict[str, Any]:
    """The message properties of every publish of this service: ``user_id`` = its broker
    user, which the broker verifies (nothing on a transport that cannot)."""
    identity = broker_identity()
    return {"user_id": identity.own_user} if identity.verifies else {}


def producer_problem(
    envelope: Envelope, user_id: str | None, *, identity: BrokerIdentity | None = None
) -> str | None:
    """Why ``envelope``, delivered with the broker-verified ``user_id``, cannot be trusted
    to come from the producer its contract names; None when it can (or when the service
    does not consume the type: the consumer then logs it and drops it). ``identity``: this
    process's broker account (:func:`broker_identity` unless given)."""
    expected = dict(chassis_settings.EVENTS.CONSUMES).get(envelope.type)
    if expected is None:
        return None
    if envelope.producer != expected:
        return (
            f"{envelope.type} is produced by {expected!r}; the envelope names {envelope.producer!r}"
        )
    identity = identity or broker_identity()
    if not identity.verifies:
        return None
    allowed = (identity.user_of(expected), identity.own_user)
    if user_id not in allowed:
        return (
            f"{envelope.type} must be published by broker user {allowed[0]!r} ({expected}); "
            f"this one was published by {user_id!r}"
            + ("" if user_id else " (no user_id property: nothing vouches for its producer)")
        )
    return None

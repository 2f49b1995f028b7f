"""chassis.events.producers: an event is applied only when it comes from the producer its
contract names, as the broker verified the publisher (the AMQP ``user_id`` property).

The unit tests' broker account is the shared ``guest`` (one user for everyone): the worker
tests show what the check still proves there (the message was published with the verified
``user_id`` of the platform's account, by the producer its contract names). The check with
one broker user per service runs on the platform (infra/tests/test_saga.py).
"""

from __future__ import annotations

import json
import uuid

import amqp.exceptions
import pytest
from django.conf import settings
from django.db import transaction
from kombu import Connection

from chassis.events.consumer import UnverifiedEventRedrive, redrive
from chassis.events.envelope import Envelope
from chassis.events.models import InboxEvent, ParkedEvent
from chassis.events.outbox import publish
from chassis.events.producers import (
    BrokerIdentity,
    broker_identity,
    producer_problem,
    publish_properties,
)
from chassis.testing import WorkerProcess
from chassis.transport import TRANSPORT
from tests import handlers
from tests.celery_app import app
from tests.utils import wait_for

QUEUE = "chassis.events"
PER_SERVICE = BrokerIdentity(
    verifies=True,
    own_user="platform.orders",
    vhost="platform",
    service="orders",
    user_format="{vhost}.{service}",
)
SHARED = BrokerIdentity(
    verifies=True, own_user="guest", vhost="/", service="orders", user_format="{vhost}.{service}"
)
EMBEDDED = BrokerIdentity(
    verifies=False, own_user="", vhost="", service="orders", user_format="{vhost}.{service}"
)


def envelope(producer: str = "chassis", event_type: str = "test.happened") -> Envelope:
    return Envelope(type=event_type, payload={"n": 1}, producer=producer)


# --- the broker account --------------------------------------------------------------------


def test_one_user_per_service_expects_the_producers_own_user():
    assert PER_SERVICE.per_service is True
    assert PER_SERVICE.user_of("users") == "platform.users"
    assert PER_SERVICE.user_of("orders") == "platform.orders"


def test_a_shared_user_expects_that_user_from_everyone():
    assert SHARED.per_service is False
    assert SHARED.user_of("users") == "guest"
    assert EMBEDDED.per_service is False


def test_the_test_projects_broker_account_is_read_from_its_url():
    identity = broker_identity()

    assert (identity.verifies, identity.own_user, identity.service) == (True, "guest", "chassis")
    assert publish_properties() == {"user_id": "guest"}


def test_the_embedded_transport_verifies_nothing_so_no_user_id_is_sent():
    from chassis.events.producers import _identity

    identity = _identity("filesystem://", TRANSPORT, "orders", "{vhost}.{service}")

    assert identity.verifies is False


# --- the check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "user_id", "trusted"),
    [
        (PER_SERVICE, "platform.chassis", True),  # the contract's producer
        (PER_SERVICE, "platform.orders", True),  # this service's own retry or redrive
        (PER_SERVICE, "platform.catalog", False),  # another service (e.g. via amq.default)
        (PER_SERVICE, None, False),  # nothing vouches for it
        (SHARED, "guest", True),
        (SHARED, None, False),
        (EMBEDDED, None, True),  # nothing to verify: only the envelope's producer counts
    ],
)
def test_the_verified_publisher_must_be_the_contracts_producer(identity, user_id, trusted):
    problem = producer_problem(envelope(), user_id, identity=identity)

    assert (problem is None) is trusted, problem


def test_the_envelopes_producer_must_be_the_contracts_whoever_published_it():
    problem = producer_problem(envelope(producer="users"), "platform.chassis", identity=PER_SERVICE)

    assert problem == "test.happened is produced by 'chassis'; the envelope names 'users'"
    assert producer_problem(envelope(producer="users"), None, identity=EMBEDDED) == problem


def test_the_problem_names_the_expected_and_the_actual_publisher():
    problem = producer_problem(envelope(), "platform.catalog", identity=PER_SERVICE)

    assert problem == (
        "test.happened must be published by broker user 'platform.chassis' (chassis); "
        "this one was published by 'platform.catalog'"
    )


def test_a_type_the_service_does_not_consume_is_left_to_the_consumer():
    assert producer_problem(envelope(event_type="test.unknown"), None, identity=SHARED) is None


# --- with a real broker and worker -----------------------------------------------------------


def send_raw(body: Envelope, **properties: str) -> None:
    """A consume task message straight into this service's queue through the default
    exchange, as any holder of the broker's credentials could send it."""
    app.send_task(
        "chassis.events.consume",
        args=[body.to_dict()],
        exchange="",
        routing_key=QUEUE,
        **properties,
    )


@pytest.mark.django_db(transaction=True)
def test_an_event_without_a_verified_publisher_is_parked_not_applied(worker: WorkerProcess):
    """The attack: a message written straight into the consumer's queue (the default
    exchange), envelope claiming the right producer, without the user_id a producer sets."""
    forged = envelope()

    send_raw(forged)

    parked = wait_for(lambda: ParkedEvent.objects.filter(event_id=forged.id).first())
    assert parked.attempts == 1
    assert parked.error == (
        "UnverifiedProducer: test.happened must be published by broker user 'guest' "
        "(chassis); this one was published by None (no user_id property: nothing vouches "
        "for its producer)"
    )
    assert InboxEvent.objects.filter(event_id=forged.id).exists() is False
    assert handlers.seen() == []


@pytest.mark.django_db(transaction=True)
def test_an_event_naming_another_producer_is_parked(worker: WorkerProcess):
    forged = envelope(producer="users")

    send_raw(forged, user_id="guest")

    parked = wait_for(lambda: ParkedEvent.objects.filter(event_id=forged.id).first())
    assert parked.error == (
        "UnverifiedProducer: test.happened is produced by 'chassis'; the envelope names 'users'"
    )
    assert handlers.seen() == []


@pytest.mark.django_db(transaction=True)
def test_a_published_event_carries_the_verified_user_and_is_applied(worker: WorkerProcess):
    with transaction.atomic():
        row = publish("test.happened", {"n": 3})

    wait_for(lambda: InboxEvent.objects.filter(event_id=row.id).exists())
    assert [s[:2] for s in handlers.seen()] == [[str(row.id), 3]]
    assert ParkedEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_retried_event_comes_back_from_the_services_own_user_and_is_applied(worker):
    (handlers.state() / "broken").touch()
    with transaction.atomic():
        row = publish("test.failed", {"n": 4})
    wait_for(lambda: worker.output().count('"events.retry"') >= 1)
    (handlers.state() / "broken").unlink()

    wait_for(lambda: InboxEvent.objects.filter(event_id=row.id).exists())
    assert ParkedEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_event_parked_for_its_producer_cannot_be_redriven(worker: WorkerProcess):
    forged = envelope()
    send_raw(forged)
    parked = wait_for(lambda: ParkedEvent.objects.filter(event_id=forged.id).first())

    with pytest.raises(UnverifiedEventRedrive, match="never applied"):
        redrive(parked)

    parked.refresh_from_db()
    assert parked.redriven_at is None


def test_rabbitmq_refuses_a_user_id_that_is_not_the_connections_user():
    """What makes ``user_id`` proof: a publisher cannot claim another broker user."""
    with Connection(
        settings.CELERY_BROKER_URL, transport_options={"confirm_publish": True}
    ) as conn:
        producer = conn.Producer()
        with pytest.raises(amqp.exceptions.PreconditionFailed, match="user_id property"):
            producer.publish(
                json.dumps({"id": str(uuid.uuid4())}),
                exchange="",
                routing_key=QUEUE,
                user_id="platform.users",
                declare=[],
                retry=False,
            )

"""/healthz (chassis.health): answered before host checks, HTTPS redirects and sessions."""

from __future__ import annotations

from django.test import Client


def test_healthz_answers_without_io_host_check_or_https():
    # A kubelet probes the pod IP over plain HTTP: not in ALLOWED_HOSTS, not redirected.
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_other_plain_http_requests_are_redirected_to_https():
    response = Client().get("/api/v1/catalog/products/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/catalog/products/"

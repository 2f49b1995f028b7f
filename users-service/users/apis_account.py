"""HTTP APIs of the mailed links: password reset and email verification.

The two requests (reset, verification resend) answer 202 with one body whatever the address
(no account enumeration) and are throttled per client address and per address asked, like
the login (chassis.throttling): one address cannot flood a mailbox, nor one client probe many.
"""

from __future__ import annotations

from collections.abc import Callable

from chassis.openapi import problem_response
from chassis.throttling import AccountRateThrottle, AddressRateThrottle
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from users import verification
from users.apis import PublicAuthApi
from users.serializers import (
    AcceptedOutputSerializer,
    AddressInputSerializer,
    PasswordResetConfirmInputSerializer,
    VerifyEmailInputSerializer,
)

RESET_ACCEPTED = "If an account uses this address, a password-reset link is on its way."
VERIFICATION_ACCEPTED = "If an unverified account uses this address, a link is on its way."
BAD_TOKEN_RESPONSE = problem_response(
    400, "Invalid input: a link token that is invalid, expired or used (`invalid-token`)."
)


class MailRequestApi(PublicAuthApi):
    """Takes an address, queues a mail for it, answers 202 with the same body for any."""

    throttle_classes = (AddressRateThrottle, AccountRateThrottle)
    accepted: str = ""

    def throttle_account(self, request: Request) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, dict) else None
        return email if isinstance(email, str) else None

    def accept(self, request: Request, action: Callable[..., None]) -> Response:
        data = AddressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action(email=data.validated_data["email"])
        body = AcceptedOutputSerializer({"detail": self.accepted}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PasswordResetApi(MailRequestApi):
    throttle_scope = "password-reset"
    throttle_account_scope = "password-reset-account"
    accepted = RESET_ACCEPTED

    @extend_schema(
        request=AddressInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Ask for a password-reset link by email (the same answer for any address)",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        return self.accept(request, verification.password_reset_request)


class PasswordResetConfirmApi(PublicAuthApi):
    throttle_scope = "password-reset"

    @extend_schema(
        request=PasswordResetConfirmInputSerializer,
        responses={204: None, **BAD_TOKEN_RESPONSE},
        summary="Set a new password with a reset link's token (ends every session)",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerificationResendApi(MailRequestApi):
    throttle_scope = "verify-email"
    throttle_account_scope = "verify-email-account"
    accepted = VERIFICATION_ACCEPTED

    @extend_schema(
        request=AddressInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Mail the email-verification link again (the same answer for any address)",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        return self.accept(request, verification.verification_resend)


class EmailVerifyApi(PublicAuthApi):
    throttle_scope = "verify-email"

    @extend_schema(
        request=VerifyEmailInputSerializer,
        responses={204: None, **BAD_TOKEN_RESPONSE},
        summary="Confirm an email address with a verification link's token",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = VerifyEmailInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification.email_verify(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""HTTP APIs: validate input, call a service or selector, shape the output."""

from __future__ import annotations

from typing import Any, cast

from chassis.openapi import AutoSchema, problem_response
from chassis.pagination import CursorPagination
from chassis.query import KnownQueryParameters
from chassis.roles import HasRole
from chassis.throttling import AccountRateThrottle, AddressRateThrottle, ScopedRateThrottle
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from users import erasure, roles, selectors, services
from users.keys import keyring
from users.models import User
from users.serializers import (
    EraseInputSerializer,
    JwksSerializer,
    MeInputSerializer,
    PasswordChangeInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenObtainInputSerializer,
    TokenPairOutputSerializer,
    UserOutputSerializer,
)

BAD_REFRESH_RESPONSE = problem_response(401, "The refresh token is invalid, expired or revoked.")


def _pair_response(pair: services.TokenPair) -> Response:
    data = {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }
    return Response(TokenPairOutputSerializer(data).data, headers={"Cache-Control": "no-store"})


def _account(request: Request) -> User:
    """The authenticated account (the view's permissions guarantee there is one)."""
    return cast(User, request.user)


class PublicAuthApi(KnownQueryParameters, APIView):
    """Base for endpoints that take credentials in the body: no header authentication.

    A stale ``Authorization`` header must not block logging in or refreshing, and a 401 still
    carries ``WWW-Authenticate``.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes: tuple[type[BaseThrottle], ...] = (ScopedRateThrottle,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class UserRegisterApi(PublicAuthApi):
    throttle_scope = "register"

    @extend_schema(
        request=RegisterInputSerializer,
        responses={201: UserOutputSerializer},
        summary="Register an account",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainApi(PublicAuthApi):
    """Throttled per client address (``login``) and per account (``login-account``), in the
    same buckets as the admin login form (chassis.admin.LoginForm)."""

    throttle_classes = (AddressRateThrottle, AccountRateThrottle)
    throttle_scope = "login"
    throttle_account_scope = "login-account"

    def throttle_account(self, request: Request) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, dict) else None
        return email if isinstance(email, str) else None

    @extend_schema(
        request=TokenObtainInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            **problem_response(401, "No active account matches these credentials."),
        },
        summary="Log in: obtain an access/refresh token pair",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = TokenObtainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _pair_response(services.token_pair_obtain(request=request, **data.validated_data))


class RefreshTokenApi(PublicAuthApi):
    """Base for the endpoints that take a refresh token in the body (one throttle scope)."""

    throttle_scope = "refresh"

    def refresh_token(self, request: Request) -> str:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return str(data.validated_data["refresh"])


class TokenRefreshApi(RefreshTokenApi):
    @extend_schema(
        request=RefreshInputSerializer,
        responses={200: TokenPairOutputSerializer, **BAD_REFRESH_RESPONSE},
        summary="Rotate a refresh token: new pair, old refresh token revoked",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        return _pair_response(services.token_refresh(refresh=self.refresh_token(request)))


class TokenRevokeApi(RefreshTokenApi):
    @extend_schema(
        request=RefreshInputSerializer,
        responses={204: None, **BAD_REFRESH_RESPONSE},
        summary="Log out: revoke a refresh token",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        services.token_revoke(refresh=self.refresh_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SigningKeyCollectionApi(PublicAuthApi):
    throttle_classes = ()

    @extend_schema(
        responses={200: JwksSerializer},
        summary="Public signing keys (JWKS)",
        tags=["auth"],
    )
    def get(self, request: Request) -> Response:
        return Response(keyring().jwks(), headers={"Cache-Control": "public, max-age=300"})


class BodyDeleteSchema(AutoSchema):
    """Documents the request body of a DELETE (drf-spectacular documents those of POST, PUT
    and PATCH only): erasing my account takes my password."""

    def _get_request_body(self, direction: Any = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class MeDetailApi(KnownQueryParameters, APIView):
    schema = BodyDeleteSchema()
    throttle_scope = "password"  # DELETE only: it takes the password (get_throttles)

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.request.method == "DELETE" else []

    @extend_schema(responses={200: UserOutputSerializer}, summary="My account", tags=["users"])
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        request=MeInputSerializer,
        responses={200: UserOutputSerializer},
        summary="Update my profile",
        tags=["users"],
    )
    def patch(self, request: Request) -> Response:
        data = MeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update(user=_account(request), data=data.validated_data)
        return Response(UserOutputSerializer(user).data)

    @extend_schema(
        request=EraseInputSerializer,
        responses={204: None, **problem_response(400, "Invalid input (a wrong password).")},
        summary="Erase my account: anonymised, no login; orders keep no personal data of it",
        tags=["users"],
    )
    def delete(self, request: Request) -> Response:
        data = EraseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure.user_erase(user=_account(request), password=data.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(KnownQueryParameters, APIView):
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "password"

    @extend_schema(
        request=PasswordChangeInputSerializer,
        responses={204: None},
        tags=["users"],
        summary="Change my password (revokes all my refresh tokens)",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_password_change(user=_account(request), **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserCursorPagination(CursorPagination):
    ordering = ("-date_joined", "-id")


class UserCollectionApi(KnownQueryParameters, ListAPIView):
    """Support and superusers: every account, newest first, filterable."""

    permission_classes = (HasRole.of(*roles.READERS),)
    pagination_class = UserCursorPagination
    serializer_class = UserOutputSerializer
    filterset_class = selectors.UserFilter

    def get_queryset(self) -> Any:
        return selectors.user_list()

    @extend_schema(summary="List accounts (support)", tags=["staff"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _get_user_or_404(user_id: Any) -> User:
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise Http404
    return user


class UserDetailApi(KnownQueryParameters, APIView):
    permission_classes = (HasRole.of(*roles.READERS),)

    @extend_schema(
        responses={200: UserOutputSerializer}, summary="Account detail (support)", tags=["staff"]
    )
    def get(self, request: Request, user_id: Any) -> Response:
        return Response(UserOutputSerializer(_get_user_or_404(user_id)).data)


class UserDeactivateApi(KnownQueryParameters, APIView):
    permission_classes = (HasRole.of(*roles.MANAGERS),)

    @extend_schema(
        request=None,
        responses={
            200: UserOutputSerializer,
            **problem_response(409, "Staff cannot deactivate their own account."),
        },
        tags=["staff"],
        summary="Deactivate an account (superusers): no login, refresh tokens revoked",
    )
    def post(self, request: Request, user_id: Any) -> Response:
        user = services.user_deactivate(user=_get_user_or_404(user_id), by=_account(request))
        return Response(UserOutputSerializer(user).data)

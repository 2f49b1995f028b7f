"""HTTP APIs: validate input, call a service or selector, shape the output."""

from __future__ import annotations

from typing import Any, cast

from chassis.openapi import problem_response
from chassis.pagination import CursorPagination
from chassis.serializers import InputSerializer
from chassis.throttling import ScopedRateThrottle
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from users import selectors, services
from users.keys import keyring
from users.models import User

PASSWORD_MAX = 128


BAD_REFRESH_RESPONSE = problem_response(401, "The refresh token is invalid, expired or revoked.")


class UserOutputSerializer(serializers.ModelSerializer):
    """An account; ``groups`` come sorted (from the prefetch cache when there is one)."""

    groups = serializers.SerializerMethodField(help_text="Group names, sorted.")

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "full_name",
            "is_active",
            "is_staff",
            "groups",
            "date_joined",
            "last_login",
        )
        read_only_fields = fields

    def get_groups(self, user: User) -> list[str]:
        return sorted(group.name for group in user.groups.all())


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Access token lifetime in seconds.")


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


class PublicAuthApi(APIView):
    """Base for endpoints that take credentials in the body: no header authentication.

    A stale ``Authorization`` header must not block logging in or refreshing, and a 401 still
    carries ``WWW-Authenticate``.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes: tuple[type[BaseThrottle], ...] = (ScopedRateThrottle,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class RegisterApi(PublicAuthApi):
    throttle_scope = "register"

    class InputSerializer(InputSerializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)
        full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses={201: UserOutputSerializer},
        summary="Register an account",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainApi(PublicAuthApi):
    throttle_scope = "login"

    class InputSerializer(InputSerializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            **problem_response(401, "No active account matches these credentials."),
        },
        summary="Log in: obtain an access/refresh token pair",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _pair_response(services.token_pair_obtain(request=request, **data.validated_data))


class RefreshInputSerializer(InputSerializer):
    refresh = serializers.CharField(max_length=4096)


class TokenRefreshApi(PublicAuthApi):
    throttle_scope = "refresh"

    @extend_schema(
        request=RefreshInputSerializer,
        responses={200: TokenPairOutputSerializer, **BAD_REFRESH_RESPONSE},
        summary="Rotate a refresh token: new pair, old refresh token revoked",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _pair_response(services.token_refresh(refresh=data.validated_data["refresh"]))


class LogoutApi(PublicAuthApi):
    throttle_scope = "refresh"

    @extend_schema(
        request=RefreshInputSerializer,
        responses={204: None, **BAD_REFRESH_RESPONSE},
        summary="Log out: revoke a refresh token",
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.token_revoke(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksApi(PublicAuthApi):
    throttle_classes = ()

    @extend_schema(
        responses={
            200: inline_serializer(
                "Jwks", {"keys": serializers.ListField(child=serializers.DictField())}
            )
        },
        summary="Public signing keys (JWKS)",
        tags=["auth"],
    )
    def get(self, request: Request) -> Response:
        return Response(keyring().jwks(), headers={"Cache-Control": "public, max-age=300"})


class MeApi(APIView):
    class InputSerializer(InputSerializer):
        full_name = serializers.CharField(max_length=150, allow_blank=True)

    @extend_schema(responses={200: UserOutputSerializer}, summary="My account", tags=["users"])
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: UserOutputSerializer},
        summary="Update my profile",
        tags=["users"],
    )
    def patch(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update(user=_account(request), data=data.validated_data)
        return Response(UserOutputSerializer(user).data)


class PasswordChangeApi(APIView):
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "password"

    class InputSerializer(InputSerializer):
        current_password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)
        new_password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={204: None},
        tags=["users"],
        summary="Change my password (revokes all my refresh tokens)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_password_change(user=_account(request), **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserCursorPagination(CursorPagination):
    ordering = ("-date_joined", "-id")


class UserListApi(ListAPIView):
    """Staff only: every account, newest first, filterable."""

    permission_classes = (IsAdminUser,)
    pagination_class = UserCursorPagination
    serializer_class = UserOutputSerializer
    filterset_class = selectors.UserFilter

    def get_queryset(self) -> Any:
        return selectors.user_list()

    @extend_schema(summary="List accounts (staff)", tags=["staff"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _get_user_or_404(user_id: Any) -> User:
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise Http404
    return user


class UserDetailApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(
        responses={200: UserOutputSerializer}, summary="Account detail (staff)", tags=["staff"]
    )
    def get(self, request: Request, user_id: Any) -> Response:
        return Response(UserOutputSerializer(_get_user_or_404(user_id)).data)


class UserDeactivateApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(
        request=None,
        responses={
            200: UserOutputSerializer,
            **problem_response(409, "Staff cannot deactivate their own account."),
        },
        tags=["staff"],
        summary="Deactivate an account (staff): no login, refresh tokens revoked",
    )
    def post(self, request: Request, user_id: Any) -> Response:
        user = services.user_deactivate(user=_get_user_or_404(user_id), by=_account(request))
        return Response(UserOutputSerializer(user).data)

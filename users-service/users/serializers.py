"""Request and response shapes of the users APIs (documented in the OpenAPI schema)."""

from __future__ import annotations

from chassis.serializers import InputSerializer, ModelOutputSerializer
from rest_framework import serializers

from users.models import User

PASSWORD_MAX = 128


def _password() -> serializers.CharField:
    return serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)


# --- input ---------------------------------------------------------------------------------


class RegisterInputSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254)
    password = _password()
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class TokenObtainInputSerializer(InputSerializer):
    email = serializers.CharField(max_length=254)
    password = _password()


class RefreshInputSerializer(InputSerializer):
    refresh = serializers.CharField(max_length=4096)


class MeInputSerializer(InputSerializer):
    full_name = serializers.CharField(max_length=150, allow_blank=True)


class PasswordChangeInputSerializer(InputSerializer):
    current_password = _password()
    new_password = _password()


class AddressInputSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254)


def _link_token() -> serializers.CharField:
    return serializers.CharField(max_length=200, help_text="The token of the mailed link.")


class PasswordResetConfirmInputSerializer(InputSerializer):
    token = _link_token()
    new_password = _password()


class VerifyEmailInputSerializer(InputSerializer):
    token = _link_token()


class EraseInputSerializer(InputSerializer):
    password = _password()


class AcceptedOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- output --------------------------------------------------------------------------------


class UserOutputSerializer(ModelOutputSerializer):
    """An account; ``groups`` come sorted (from the prefetch cache when there is one)."""

    groups = serializers.SerializerMethodField(help_text="Group names, sorted.")

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "full_name",
            "email_verified",
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


class JwksSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.DictField())

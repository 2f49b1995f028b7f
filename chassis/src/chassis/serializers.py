"""Serializer bases shared by the services' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare.

    A typo in a field name (``full_nmae``) is reported instead of silently ignored.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
        return attrs


class ProblemItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Dotted path of the input field.")
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """The one error shape (documentation only: the exception handler produces it)."""

    type = serializers.CharField(help_text="urn:problem-type:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemItemSerializer(many=True)
    correlation_id = serializers.CharField(allow_null=True)

"""Serializer bases shared by the services' APIs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers

__all__ = [
    "DecimalStringField",
    "InputSerializer",
    "ModelOutputSerializer",
    "ProblemItemSerializer",
    "ProblemSerializer",
    "StrictIntegerField",
    "StrictSlugRelatedField",
]


class InputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare, and non-strings for text.

    A typo in a field name (``full_nmae``) is reported instead of silently ignored, together
    with the other field errors. Checked on the data itself (not ``initial_data``), so it also
    holds when the serializer is nested or used with ``many=True``. DRF's CharField turns
    ``42`` into ``"42"``; here a number, boolean, list or object sent for a text field is a
    wrong type, as the OpenAPI schema says (``type: string``).
    """

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {
            name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")]
            for name in unknown
        }
        if isinstance(data, Mapping):
            errors.update(_non_strings(self.fields, data))
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from exc
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _non_strings(fields: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        name: [serializers.ErrorDetail("Not a valid string.", code="invalid")]
        for name, field in fields.items()
        if isinstance(field, serializers.CharField)
        and not field.read_only
        and name in data
        and data[name] is not None
        and not isinstance(data[name], str)
    }


class ModelOutputSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose fields are built from the model once per class, then copied
    for each instance, as DRF copies a serializer's declared fields.

    DRF builds a ModelSerializer's fields again for every instance: the model's field
    information, then a field class and its arguments per column, about 0.4 ms for a
    serializer of ten fields on a small machine, on every response that uses it. For output
    serializers whose fields depend on their class only (``Meta`` and the declared fields),
    not on the request, the context or the instance: override ``get_fields`` otherwise.
    """

    _built: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        built = self._built.get(type(self))
        if built is None:  # two threads may both build it: the same fields either way
            built = self._built[type(self)] = super().get_fields()
        return copy.deepcopy(built)


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
    errors = ProblemItemSerializer(many=True)  # type: ignore[assignment]  # a field, not .errors
    correlation_id = serializers.CharField(allow_null=True)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer. DRF's IntegerField also takes ``"5"`` and ``5.0``; like
    :class:`InputSerializer` for text, a value of another JSON type is a wrong type here, as
    the OpenAPI schema (``type: integer``) says."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class DecimalStringField(serializers.DecimalField):
    """An amount as a JSON string (``"19.90"``), as it is rendered and documented: a JSON
    number would go through a binary float in many clients before it got here."""

    default_error_messages = {  # noqa: RUF012 - DRF's declarative attribute
        "not_a_string": 'A decimal string is required, like "19.90".'
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """DRF turns ``""`` into null for a nullable related field; here ``""`` is refused (the
    schema says a non-empty slug or null)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            self.fail("blank")
        return super().run_validation(data)

    default_error_messages = {  # noqa: RUF012 - DRF's declarative attribute
        **serializers.SlugRelatedField.default_error_messages,
        "blank": "This field may not be blank.",
    }

import django_filters
import pytest
from django.contrib.auth.models import Group
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from chassis.filters import StrictFilterSet, UtcDateTimeFilter
from chassis.serializers import (
    DecimalStringField,
    InputSerializer,
    ModelOutputSerializer,
    ProblemSerializer,
    StrictIntegerField,
    StrictSlugRelatedField,
)


class AddressSerializer(InputSerializer):
    city = serializers.CharField()


class ProfileSerializer(InputSerializer):
    full_name = serializers.CharField()
    address = AddressSerializer(required=False)
    previous = AddressSerializer(many=True, required=False)


def errors_of(serializer) -> dict:
    assert serializer.is_valid() is False
    return serializer.errors


def unknown() -> list:
    return [ErrorDetail("Unknown field.", code="unknown_field")]


def test_declared_fields_pass():
    data = {"full_name": "Ada", "address": {"city": "London"}, "previous": [{"city": "Paris"}]}
    serializer = ProfileSerializer(data=data)

    assert serializer.is_valid() is True
    assert serializer.validated_data == data


def test_unknown_field_is_refused():
    assert errors_of(ProfileSerializer(data={"full_name": "Ada", "full_nmae": "x"})) == {
        "full_nmae": unknown()
    }


def test_unknown_fields_are_reported_with_the_other_errors():
    errors = errors_of(ProfileSerializer(data={"full_nmae": "Ada"}))

    assert errors == {
        "full_name": [ErrorDetail("This field is required.", code="required")],
        "full_nmae": unknown(),
    }


def test_unknown_fields_in_nested_serializers():
    data = {"full_name": "Ada", "address": {"city": "L", "zip": "1"}, "previous": [{"town": "P"}]}

    errors = errors_of(ProfileSerializer(data=data))

    assert errors["address"] == {"zip": unknown()}
    assert dict(errors["previous"]) == {
        0: {
            "city": [ErrorDetail("This field is required.", code="required")],
            "town": unknown(),
        }
    }


def test_unknown_fields_with_many_at_the_top():
    errors = errors_of(AddressSerializer(data=[{"city": "L"}, {"city": "P", "x": 1}], many=True))

    assert dict(errors) == {1: {"x": unknown()}}


def test_unknown_fields_refused_in_partial_updates():
    assert errors_of(ProfileSerializer(data={"nick": "a"}, partial=True)) == {"nick": unknown()}


def test_non_object_input_gets_the_usual_error():
    assert errors_of(ProfileSerializer(data=["full_name"])) == {
        "non_field_errors": [
            ErrorDetail("Invalid data. Expected a dictionary, but got list.", code="invalid")
        ]
    }


def test_problem_serializer_describes_the_problem_document():
    assert list(ProblemSerializer().fields) == [
        "type",
        "title",
        "status",
        "detail",
        "errors",
        "correlation_id",
    ]


def test_a_number_sent_for_a_text_field_is_a_wrong_type_not_coerced():
    assert errors_of(ProfileSerializer(data={"full_name": 42})) == {
        "full_name": [ErrorDetail("Not a valid string.", code="invalid")]
    }


def test_wrong_types_are_reported_in_nested_serializers_too():
    data = {"full_name": "Ada", "address": {"city": ["London"]}, "previous": [{"city": True}]}

    assert errors_of(ProfileSerializer(data=data)) == {
        "address": {"city": [ErrorDetail("Not a valid string.", code="invalid")]},
        "previous": {0: {"city": [ErrorDetail("Not a valid string.", code="invalid")]}},
    }


class AmountsSerializer(InputSerializer):
    quantity = StrictIntegerField(min_value=0)
    price = DecimalStringField(max_digits=6, decimal_places=2)
    group = StrictSlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), allow_null=True, required=False
    )


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"quantity": "5", "price": "1.00"}, "quantity", "invalid"),
        ({"quantity": 5.0, "price": "1.00"}, "quantity", "invalid"),
        ({"quantity": True, "price": "1.00"}, "quantity", "invalid"),
        ({"quantity": 1, "price": 1.5}, "price", "not_a_string"),
        ({"quantity": 1, "price": 2}, "price", "not_a_string"),
        ({"quantity": 1, "price": "1.001"}, "price", "max_decimal_places"),
        ({"quantity": 1, "price": "1.00", "group": ""}, "group", "blank"),
    ],
)
@pytest.mark.django_db
def test_strict_fields_refuse_other_json_types(data, field, code):
    errors = errors_of(AmountsSerializer(data=data))

    assert {name: [e.code for e in details] for name, details in errors.items()} == {field: [code]}


@pytest.mark.django_db
def test_strict_fields_accept_their_own_types():
    Group.objects.create(name="editors")
    serializer = AmountsSerializer(data={"quantity": 3, "price": "19.90", "group": "editors"})

    assert serializer.is_valid() is True
    assert serializer.validated_data["quantity"] == 3
    assert str(serializer.validated_data["price"]) == "19.90"
    assert serializer.validated_data["group"].name == "editors"
    assert AmountsSerializer(data={"quantity": 0, "price": "0", "group": None}).is_valid()


class NameFilter(StrictFilterSet):
    name = django_filters.CharFilter()
    after = UtcDateTimeFilter(field_name="id")  # only parsed here

    class Meta:
        model = Group
        fields = ("name",)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"after": ""}, {"after": ["This field may not be blank."]}),
        ({"name": "", "after": "x"}, {"name": ["This field may not be blank."],
                                      "after": ["Enter a valid date/time."]}),
    ],
)  # fmt: skip
def test_strict_filtersets_refuse_blank_parameters(query, errors):
    filterset = NameFilter(data=query, queryset=Group.objects.all())

    assert filterset.is_valid() is False
    assert filterset.errors == errors


@pytest.mark.django_db
def test_strict_filtersets_accept_values_and_absent_parameters():
    Group.objects.create(name="editors")
    assert NameFilter(data={}, queryset=Group.objects.all()).is_valid() is True
    filterset = NameFilter(data={"name": "editors"}, queryset=Group.objects.all())
    assert [g.name for g in filterset.qs] == ["editors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:00:00+02:00", "2026-11-22 08:00:00+00:00"),
        ("6918-12-29T22:17:03-17:35", "6918-12-30 15:52:03+00:00"),  # PostgreSQL: +-15:59
    ],
)
def test_date_time_filters_hand_utc_to_the_database(value, expected):
    filterset = NameFilter(data={"after": value}, queryset=Group.objects.all())

    assert filterset.is_valid() is True
    assert str(filterset.form.cleaned_data["after"]) == expected


@pytest.mark.django_db
def test_a_date_time_outside_the_utc_calendar_is_refused():
    filterset = NameFilter(
        data={"after": "9999-12-31T23:00:00-05:00"}, queryset=Group.objects.all()
    )

    assert filterset.is_valid() is False
    assert filterset.errors == {"after": ["Date-time out of range."]}


@pytest.mark.django_db
def test_blank_errors_carry_a_code():
    filterset = NameFilter(data={"name": ""}, queryset=Group.objects.all())

    assert filterset.is_valid() is False
    assert filterset.errors.as_data()["name"][0].code == "blank"


class GroupModelOutput(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = Group
        fields = ("id", "name", "members")

    def get_members(self, group: Group) -> int:
        return 0


class GroupOutput(ModelOutputSerializer, GroupModelOutput):
    """The same serializer, its fields built once per class."""


def test_a_model_output_serializer_builds_its_fields_once_per_class(monkeypatch):
    built = []
    build = serializers.ModelSerializer.get_fields
    monkeypatch.setattr(ModelOutputSerializer, "_built", {})
    monkeypatch.setattr(
        serializers.ModelSerializer, "get_fields", lambda self: built.append(self) or build(self)
    )
    groups = [Group(id=1, name="staff"), Group(id=2, name="buyers")]

    first, second = GroupOutput(groups[0]), GroupOutput(groups[1])
    assert (first.data, second.data) == (
        {"id": 1, "name": "staff", "members": 0},
        {"id": 2, "name": "buyers", "members": 0},
    )
    assert GroupOutput(groups, many=True).data == [first.data, second.data]
    assert built == [first]  # the other instances copied what the first one built

    # each instance has fields of its own, bound to it, as DRF's own are
    assert first.fields["name"] is not second.fields["name"]
    assert (first.fields["name"].parent, second.fields["name"].parent) == (first, second)
    # the same fields as a plain ModelSerializer's: classes and arguments
    plain = GroupModelOutput(groups[0])
    assert first.data == plain.data
    assert [(n, type(f), f._kwargs) for n, f in first.fields.items()] == [
        (n, type(f), f._kwargs) for n, f in plain.fields.items()
    ]

import django_filters
import pytest
from django.contrib.auth.models import Group
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from chassis.pagination import CursorPagination
from chassis.query import PAGE_PARAMETERS, KnownQueryParameters, routed_views


class GroupFilter(django_filters.FilterSet):
    name = django_filters.CharFilter()

    class Meta:
        model = Group
        fields = ("name",)


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ("id", "name")


class GroupListApi(KnownQueryParameters, generics.ListAPIView):
    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)
    queryset = Group.objects.order_by("id")
    serializer_class = GroupSerializer
    filterset_class = GroupFilter
    pagination_class = type("IdPagination", (CursorPagination,), {"ordering": "id"})
    filter_backends = (django_filters.rest_framework.DjangoFilterBackend,)


class ReportApi(KnownQueryParameters, APIView):
    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)
    query_parameters = ("q", *PAGE_PARAMETERS)

    def get(self, request: Request) -> Response:
        return Response({"q": request.query_params.get("q")})

    def post(self, request: Request) -> Response:
        return Response({})


class StaffApi(KnownQueryParameters, APIView):
    authentication_classes = ()
    permission_classes = (permissions.IsAdminUser,)

    def get(self, request: Request) -> Response:  # pragma: no cover - never reached
        return Response({})


def get(view: type[APIView], query: str) -> Response:
    return view.as_view()(APIRequestFactory().get(f"/x?{query}"))


def unknown(*names: str) -> list[dict[str, object]]:
    return [
        {"field": None, "code": "unknown", "message": f"Unknown query parameter {name!r}."}
        for name in names
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("view", "query"),
    [
        (GroupListApi, "name=editors&cursor=&page_size=5&format=json"),
        (ReportApi, "q=x&cursor=c&page_size=5"),
        (ReportApi, ""),
    ],
)
def test_known_parameters_pass(view, query):
    assert get(view, query).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("view", "query", "names"),
    [
        (GroupListApi, "nme=editors", ["nme"]),
        (GroupListApi, "zeta=1&name=x&alpha=2&alpha=3", ["alpha", "zeta"]),
        (ReportApi, "q=x&ordering=name", ["ordering"]),
        (ReportApi, "=1", [""]),
    ],
)
def test_unknown_parameters_are_a_400_naming_each(view, query, names):
    response = get(view, query)

    assert response.status_code == 400
    assert response.data["type"] == "urn:problem-type:validation-error"
    assert response.data["errors"] == unknown(*names)


@pytest.mark.parametrize(
    ("query", "status", "names"),
    [("format=json", 200, []), ("q=x", 400, ["q"]), ("cursor=c&format=json", 400, ["cursor"])],
)
def test_writes_know_only_the_format(query, status, names):
    response = ReportApi.as_view()(APIRequestFactory().post(f"/x?{query}", {}, format="json"))

    assert response.status_code == status
    assert response.data.get("errors", []) == unknown(*names)


@pytest.mark.parametrize("method", ["put", "trace"])
def test_a_method_the_view_does_not_have_is_a_405_first(method):
    request = APIRequestFactory().generic(method.upper(), "/x?nonsense=1")

    response = ReportApi.as_view()(request)

    assert response.status_code == 405


def test_permissions_answer_before_the_query_is_checked():
    response = get(StaffApi, "nonsense=1")

    assert response.status_code == 403
    assert response.data["errors"] == []


def test_routed_views_are_the_class_based_views_of_a_module_in_route_order():
    from tests import apis

    views = routed_views("tests.apis")

    assert views[:3] == [apis.OrderPlaceApi, apis.OrderCancelApi, apis.StockReserveApi]
    assert apis.forbidden_view not in views  # a function view has no class to check
    assert routed_views("no.such.module") == []

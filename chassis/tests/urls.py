from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests import apis

handler400 = "chassis.errors.handler400"
handler403 = "chassis.errors.handler403"
handler404 = "chassis.errors.handler404"
handler500 = "chassis.errors.handler500"

urlpatterns = [
    path("api/v1/orders/", apis.OrderPlaceApi.as_view()),
    path("api/v1/orders/cancel/", apis.OrderCancelApi.as_view()),
    path("api/v1/stock/reserve/", apis.StockReserveApi.as_view()),
    path("api/v1/items/<int:item_id>/", apis.ItemDetailApi.as_view()),
    path("api/v1/me/", apis.MeApi.as_view()),
    path("api/v1/staff/report/", apis.StaffReportApi.as_view()),
    path("api/v1/throttled/", apis.ThrottledApi.as_view()),
    path("api/v1/logged/", apis.LoggedApi.as_view()),
    path("api/v1/crash/", apis.CrashApi.as_view()),
    path("django/forbidden/", apis.forbidden_view),
    path("django/suspicious/", apis.suspicious_view),
    path("django/form/", csrf_exempt(apis.form_view)),
]

from django.urls import path

from orders import apis

urlpatterns = [
    path("", apis.OrderCollectionApi.as_view(), name="order-list"),
    path("<uuid:order_id>", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("<uuid:order_id>/cancel", apis.OrderCancelApi.as_view(), name="order-cancel"),
    path("<uuid:order_id>/ship", apis.OrderShipApi.as_view(), name="order-ship"),
]

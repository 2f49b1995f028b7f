"""The real URLs (config.urls), plus the floor's two views."""

from config.urls import urlpatterns as service_urls
from django.urls import path

from catalog_floor import views

handler400 = "chassis.errors.handler400"
handler403 = "chassis.errors.handler403"
handler404 = "chassis.errors.handler404"
handler500 = "chassis.errors.handler500"

urlpatterns = [
    path("floor/products/", views.product_list),
    path("floor/products/<int:product_id>", views.product_detail),
    *service_urls,
]

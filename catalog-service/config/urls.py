from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

handler400 = "chassis.errors.handler400"
handler403 = "chassis.errors.handler403"
handler404 = "chassis.errors.handler404"
handler500 = "chassis.errors.handler500"

admin.site.site_header = "catalog-service administration"
admin.site.site_title = "catalog-service admin"

urlpatterns = [
    path("admin/catalog/", admin.site.urls),
    path("api/v1/catalog/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/catalog/", include("catalog.urls")),
    path("docs/catalog/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

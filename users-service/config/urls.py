from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from users.apis import SigningKeyCollectionApi

handler400 = "chassis.errors.handler400"
handler403 = "chassis.errors.handler403"
handler404 = "chassis.errors.handler404"
handler500 = "chassis.errors.handler500"

admin.site.site_header = "users-service administration"
admin.site.site_title = "users-service admin"

urlpatterns = [
    path("admin/users/", admin.site.urls),
    path("api/v1/users/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/users/", include("users.urls.users")),
    path("docs/users/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path(".well-known/jwks.json", SigningKeyCollectionApi.as_view(), name="jwks"),
    path("api/v1/auth/", include("users.urls.auth")),
]

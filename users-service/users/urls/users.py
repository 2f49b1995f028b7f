from django.urls import path

from users import apis

urlpatterns = [
    path("", apis.UserCollectionApi.as_view(), name="user-list"),
    path("me", apis.MeDetailApi.as_view(), name="user-me"),
    path("me/password", apis.PasswordChangeApi.as_view(), name="user-password"),
    path("<uuid:user_id>", apis.UserDetailApi.as_view(), name="user-detail"),
    path("<uuid:user_id>/deactivate", apis.UserDeactivateApi.as_view(), name="user-deactivate"),
]

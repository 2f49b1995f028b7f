from django.urls import path

from users import apis

urlpatterns = [
    path("register", apis.UserRegisterApi.as_view(), name="auth-register"),
    path("token", apis.TokenObtainApi.as_view(), name="auth-token"),
    path("token/refresh", apis.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("logout", apis.TokenRevokeApi.as_view(), name="auth-logout"),
]

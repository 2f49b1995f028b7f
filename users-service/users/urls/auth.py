from django.urls import path

from users import apis, apis_account

urlpatterns = [
    path("register", apis.UserRegisterApi.as_view(), name="auth-register"),
    path("token", apis.TokenObtainApi.as_view(), name="auth-token"),
    path("token/refresh", apis.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("logout", apis.TokenRevokeApi.as_view(), name="auth-logout"),
    path("password-reset", apis_account.PasswordResetApi.as_view(), name="auth-password-reset"),
    path(
        "password-reset/confirm",
        apis_account.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("verify-email", apis_account.EmailVerifyApi.as_view(), name="auth-verify-email"),
    path(
        "verify-email/resend",
        apis_account.VerificationResendApi.as_view(),
        name="auth-verify-email-resend",
    ),
]

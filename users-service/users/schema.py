"""OpenAPI registration of users-service's authentication class."""

from chassis.openapi import BearerJWTScheme


class AccessTokenScheme(BearerJWTScheme):
    target_class = "users.authentication.AccessTokenAuthentication"

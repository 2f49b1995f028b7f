import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from chassis.conf import (
    broker_transport,
    broker_transport_options,
    common_settings,
    rest_framework,
    spectacular,
)
from chassis.mail import email_settings

# Every variable chassis.conf reads (its docstring lists them).
ENVIRONMENT_VARIABLES = [
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "VAR_DIR",
    "DATABASE_URL",
    "DB_CONN_MAX_AGE",
    "REDIS_URL",
    "CACHE_KEY_PREFIX",
    "CELERY_BROKER_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_COOKIES",
    "TRUSTED_PROXIES",
    "THROTTLE_LOGIN",
    "THROTTLE_LOGIN_ACCOUNT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "JWKS_URL",
    "JWT_ISSUER",
    "USERS_TOKEN_URL",
    "HEALTH_BROKER_CHECK_SECONDS",
    "HEALTH_BROKER_TIMEOUT_SECONDS",
    "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERY_TASK_TIME_LIMIT",
]
# What production cannot do without (a resource service: it verifies tokens).
REQUIRED = {
    "DATABASE_URL": "postgres://orders:pw@db:5432/orders",
    "CELERY_BROKER_URL": "amqp://orders:pw@rabbitmq:5672//",
    "JWKS_URL": "http://users:8000/.well-known/jwks.json",
    "USERS_TOKEN_URL": "http://users:8000/api/v1/auth/token",
}


@pytest.fixture
def environment(monkeypatch):
    """An empty environment but for SECRET_KEY; returns a setter for more variables."""
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "s3cret")

    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


def settings_for(base_dir, **options):
    return common_settings(environ.Env(), service="orders", base_dir=base_dir, **options)


def test_production_safe_defaults(environment, tmp_path):
    environment(**REQUIRED)

    conf = settings_for(tmp_path)

    assert conf["SECRET_KEY"] == "s3cret"
    assert conf["DEBUG"] is False
    assert conf["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert conf["SECURE_SSL_REDIRECT"] is True
    assert conf["SESSION_COOKIE_SECURE"] is True
    assert conf["CSRF_COOKIE_SECURE"] is True
    assert conf["SECURE_HSTS_SECONDS"] == 31_536_000
    assert conf["SECURE_HSTS_PRELOAD"] is True
    assert conf["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert conf["SESSION_COOKIE_NAME"] == "orders_sessionid"
    assert conf["CSRF_COOKIE_NAME"] == "orders_csrftoken"
    assert conf["STATIC_URL"] == "/static/orders/"
    assert conf["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1_048_576
    assert conf["CHASSIS"] == {
        "SERVICE_NAME": "orders",
        "TRUSTED_PROXIES": [],
        "BACKOFFICE": {"ADMINS": ["users", "catalog", "orders"]},
        "EVENTS": {"SCHEMAS_DIR": tmp_path / "orders" / "event_schemas", "CONSUMES": {}},
        "HEALTH": {"BROKER_CHECK_SECONDS": 30, "BROKER_TIMEOUT_SECONDS": 2},
        "JWT": {"JWKS_URL": REQUIRED["JWKS_URL"], "ISSUER": "users"},
        "SSO": {
            "TOKEN_URL": REQUIRED["USERS_TOKEN_URL"],
            "RECHECK_SECONDS": 60,
            "HARD_LIMIT_SECONDS": 900,
        },
    }
    assert (conf["CELERY_TASK_SOFT_TIME_LIMIT"], conf["CELERY_TASK_TIME_LIMIT"]) == (300, 360)
    assert conf["LOGGING"]["handlers"]["stdout"]["formatter"] == "json"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_production_refuses_to_start_without_a_required_variable(environment, tmp_path, name):
    environment(**{key: value for key, value in REQUIRED.items() if key != name})

    with pytest.raises(ImproperlyConfigured, match=f"^{name} is required in production"):
        settings_for(tmp_path)
    assert not (tmp_path / "var").exists()  # nothing was made up meanwhile


def test_a_service_that_verifies_no_token_needs_no_token_urls(environment, tmp_path):
    environment(DATABASE_URL=REQUIRED["DATABASE_URL"], CELERY_BROKER_URL="amqp://rabbitmq//")

    conf = settings_for(tmp_path, verifies_tokens=False)

    assert sorted(conf["CHASSIS"]) == [
        "BACKOFFICE",
        "EVENTS",
        "HEALTH",
        "SERVICE_NAME",
        "TRUSTED_PROXIES",
    ]
    assert "AUTHENTICATION_BACKENDS" not in conf  # it holds the accounts: Django's default


def test_a_resource_service_gets_the_project_wiring_and_the_admin_single_sign_on(
    environment, tmp_path
):
    environment(**REQUIRED)

    conf = settings_for(tmp_path)

    assert conf["ROOT_URLCONF"] == "config.urls"
    assert conf["WSGI_APPLICATION"] == "config.wsgi.application"
    assert conf["MIDDLEWARE"][:2] == [
        "chassis.metrics.MetricsMiddleware",
        "chassis.health.HealthCheckMiddleware",
    ]
    assert conf["AUTHENTICATION_BACKENDS"] == [
        "chassis.sso.UsersServiceBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    assert conf["SESSION_COOKIE_AGE"] == 8 * 3600
    conf["MIDDLEWARE"].append("x")  # a service's change stays its own
    assert settings_for(tmp_path)["MIDDLEWARE"][-1] != "x"


@pytest.mark.parametrize(
    "consumed", [["stock.reserved"], {"stock.reserved": ""}, {"stock.reserved": None}]
)
def test_events_consumed_must_name_each_types_producer(environment, tmp_path, consumed):
    """A consumer must know whom to trust for each type (chassis.events.producers)."""
    environment(**REQUIRED)

    with pytest.raises(ImproperlyConfigured, match=r"^events_consumed maps each consumed"):
        settings_for(tmp_path, events_consumed=consumed)


def test_events_consumed_bind_the_events_queue_and_the_beat_runs_the_sweep(environment, tmp_path):
    environment(**REQUIRED)

    consumed = {"stock.reserved": "catalog", "product.changed": "catalog"}
    conf = settings_for(tmp_path, events_consumed=consumed)

    assert conf["CHASSIS"]["EVENTS"]["CONSUMES"] == consumed
    queues = {queue.name: queue for queue in conf["CELERY_TASK_QUEUES"]}
    assert sorted(queues) == ["orders", "orders.events"]
    assert sorted(b.routing_key for b in queues["orders.events"].bindings) == [
        "product.changed",
        "stock.reserved",
    ]
    assert conf["CELERY_BEAT_SCHEDULE"] == {
        "events-outbox-sweep": {"task": "chassis.events.outbox_sweep", "schedule": 5.0},
        "events-purge": {"task": "chassis.events.purge", "schedule": 3600.0},
        "events-gauges": {"task": "chassis.events.gauges_refresh", "schedule": 15.0},
    }


def test_task_time_limits_from_the_environment(environment, tmp_path):
    environment(**REQUIRED, CELERY_TASK_SOFT_TIME_LIMIT="20", CELERY_TASK_TIME_LIMIT="30")

    conf = settings_for(tmp_path)

    assert (conf["CELERY_TASK_SOFT_TIME_LIMIT"], conf["CELERY_TASK_TIME_LIMIT"]) == (20, 30)


def test_a_hard_time_limit_not_above_the_soft_one_is_refused(environment, tmp_path):
    environment(**REQUIRED, CELERY_TASK_SOFT_TIME_LIMIT="30", CELERY_TASK_TIME_LIMIT="30")

    with pytest.raises(ImproperlyConfigured, match=r"CELERY_TASK_TIME_LIMIT \(30\) must exceed"):
        settings_for(tmp_path)


def test_no_proxy_is_trusted_in_production_unless_configured(environment, tmp_path):
    environment(**REQUIRED)
    assert settings_for(tmp_path)["CHASSIS"]["TRUSTED_PROXIES"] == []

    environment(TRUSTED_PROXIES="10.0.0.0/8,fd00::/8")
    assert settings_for(tmp_path)["CHASSIS"]["TRUSTED_PROXIES"] == ["10.0.0.0/8", "fd00::/8"]


def test_local_runs_trust_this_machine_as_the_proxy(environment, tmp_path):
    environment(DEBUG="true")

    assert settings_for(tmp_path)["CHASSIS"]["TRUSTED_PROXIES"] == ["127.0.0.1/32", "::1/128"]


def test_a_malformed_trusted_proxy_network_stops_the_start(environment, tmp_path):
    environment(**REQUIRED, TRUSTED_PROXIES="10.0.0.0/8,gateway")

    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES.*gateway"):
        settings_for(tmp_path)


def test_debug_falls_back_to_the_embedded_stand_ins_under_var_dir(environment, tmp_path):
    environment(DEBUG="true")

    conf = settings_for(tmp_path)
    var = tmp_path / "var"

    assert conf["VAR_DIR"] == var
    database = conf["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(var / "orders.sqlite3")
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True
    assert conf["CELERY_BROKER_URL"] == "filesystem://"
    assert conf["CELERY_BROKER_TRANSPORT"] == "chassis.transport.filesystem:FilesystemTransport"
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"] == {
        "data_folder_in": str(var / "broker" / "queue"),
        "data_folder_out": str(var / "broker" / "queue"),
        "processed_folder": str(var / "broker" / "processed"),
        "store_processed": False,
        "control_folder": str(var / "broker" / "control"),
        "corrupt_folder": str(var / "broker" / "corrupt"),
        "fsync": True,
        "polling_interval": 0.1,
    }
    assert sorted(p.name for p in (var / "broker").iterdir()) == [
        "control",
        "corrupt",
        "processed",
        "queue",
    ]
    assert conf["CACHES"]["default"] == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "orders",
    }
    assert conf["CHASSIS"]["JWT"]["JWKS_URL"] == "http://127.0.0.1:8101/.well-known/jwks.json"
    assert conf["CHASSIS"]["SSO"]["TOKEN_URL"] == "http://127.0.0.1:8101/api/v1/auth/token"


def test_var_dir_from_the_environment(environment, tmp_path):
    environment(VAR_DIR=str(tmp_path / "state"), DEBUG="true")

    conf = settings_for(tmp_path / "app")

    assert conf["DATABASES"]["default"]["NAME"] == str(tmp_path / "state" / "orders.sqlite3")
    assert (tmp_path / "state" / "broker" / "queue").is_dir()
    assert not (tmp_path / "app").exists()


def test_services_from_the_environment(environment, tmp_path):
    environment(
        DATABASE_URL="postgres://orders:pw@db:5432/orders",
        DB_CONN_MAX_AGE="0",
        CELERY_BROKER_URL="amqp://orders:pw@rabbitmq:5672//",
        REDIS_URL="redis://redis:6379/0",
        ALLOWED_HOSTS="orders.example.com,orders",
        JWKS_URL="http://users:8000/.well-known/jwks.json",
        USERS_TOKEN_URL="http://users:8000/api/v1/auth/token",
        JWT_ISSUER="users-prod",
        LOG_FORMAT="console",
        HEALTH_BROKER_CHECK_SECONDS="0",
        HEALTH_BROKER_TIMEOUT_SECONDS="1",
    )

    conf = settings_for(tmp_path)

    database = conf["DATABASES"]["default"]
    assert (database["ENGINE"], database["NAME"], database["HOST"], database["PORT"]) == (
        "django.db.backends.postgresql",
        "orders",
        "db",
        5432,
    )
    assert database["CONN_MAX_AGE"] == 0
    assert conf["CELERY_BROKER_URL"] == "amqp://orders:pw@rabbitmq:5672//"
    assert conf["CELERY_BROKER_TRANSPORT"] is None  # kombu's own for the URL's scheme
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"confirm_publish": True}
    assert not (tmp_path / "var").exists()
    assert conf["CACHES"]["default"] == {
        "BACKEND": "chassis.cache.RedisCache",
        "LOCATION": "redis://redis:6379/0",
        "KEY_PREFIX": "orders",
        "TIMEOUT": 300,
    }
    assert conf["ALLOWED_HOSTS"] == ["orders.example.com", "orders"]
    assert conf["CHASSIS"]["JWT"] == {
        "JWKS_URL": "http://users:8000/.well-known/jwks.json",
        "ISSUER": "users-prod",
    }
    assert conf["LOGGING"]["handlers"]["stdout"]["formatter"] == "console"
    assert conf["CHASSIS"]["HEALTH"] == {"BROKER_CHECK_SECONDS": 0, "BROKER_TIMEOUT_SECONDS": 1}


def test_debug_relaxes_the_https_only_defaults(environment, tmp_path):
    environment(DEBUG="true")

    conf = settings_for(tmp_path)

    assert conf["DEBUG"] is True
    assert conf["SECURE_SSL_REDIRECT"] is False
    assert conf["SECURE_HSTS_SECONDS"] == 0
    assert conf["SESSION_COOKIE_SECURE"] is False
    assert conf["CSRF_COOKIE_SECURE"] is False


def test_missing_secret_key_is_refused(environment, monkeypatch, tmp_path):
    environment(**REQUIRED)
    monkeypatch.delenv("SECRET_KEY")

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        settings_for(tmp_path)


def test_rest_framework_defaults_and_overrides(environment):
    conf = rest_framework(DEFAULT_THROTTLE_RATES={"login": "5/min"}, PAGE_SIZE=10)

    assert conf["EXCEPTION_HANDLER"] == "chassis.errors.exception_handler"
    assert conf["DEFAULT_PARSER_CLASSES"] == ["chassis.parsers.JSONParser"]
    assert conf["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    assert conf["DEFAULT_PERMISSION_CLASSES"] == ["rest_framework.permissions.IsAuthenticated"]
    assert conf["DEFAULT_PAGINATION_CLASS"] == "chassis.pagination.CursorPagination"
    assert conf["DEFAULT_SCHEMA_CLASS"] == "chassis.openapi.AutoSchema"
    assert conf["DEFAULT_THROTTLE_RATES"] == {"login": "5/min", "login-account": "10/min"}
    assert conf["PAGE_SIZE"] == 10
    assert "NUM_PROXIES" not in conf  # client addresses: chassis.addresses


def test_rest_framework_login_rates_from_the_environment(environment):
    environment(THROTTLE_LOGIN="3/min", THROTTLE_LOGIN_ACCOUNT="4/hour")

    assert rest_framework(DEFAULT_THROTTLE_RATES={"probe": "1/s"})["DEFAULT_THROTTLE_RATES"] == {
        "login": "3/min",
        "login-account": "4/hour",
        "probe": "1/s",
    }


def test_spectacular_settings():
    conf = spectacular(title="orders API", description="Orders.")

    assert (conf["TITLE"], conf["DESCRIPTION"], conf["VERSION"]) == (
        "orders API",
        "Orders.",
        "1.0.0",
    )
    assert conf["SCHEMA_PATH_PREFIX"] == r"/api/v1/"
    assert conf["COMPONENT_SPLIT_REQUEST"] is True
    assert conf["SWAGGER_UI_DIST"] == "SIDECAR"


def test_broker_transport_options_confirm_publishes_on_rabbitmq(tmp_path):
    assert broker_transport_options("amqp://localhost//", tmp_path) == {"confirm_publish": True}
    assert broker_transport_options("redis://localhost/0", tmp_path) == {}
    assert list(tmp_path.iterdir()) == []


def test_the_embedded_broker_runs_on_the_chassis_transport():
    assert broker_transport("filesystem://") == "chassis.transport.filesystem:FilesystemTransport"
    assert broker_transport("amqp://localhost//") is None
    assert broker_transport("redis://localhost/0") is None


def test_email_settings_default_to_smtp_over_tls(environment):
    assert email_settings(environ.Env()) == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": True,
        "EMAIL_TIMEOUT": 10,
        "DEFAULT_FROM_EMAIL": "Shop <no-reply@shop.example.com>",
    }


def test_email_settings_from_the_environment(environment):
    environment(EMAIL_HOST="127.0.0.1", EMAIL_PORT="1025", EMAIL_USE_TLS="false")

    conf = email_settings(environ.Env())

    assert (conf["EMAIL_HOST"], conf["EMAIL_PORT"], conf["EMAIL_USE_TLS"]) == (
        "127.0.0.1",
        1025,
        False,
    )

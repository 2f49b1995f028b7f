"""The chassis test project's Celery app, built the way services build theirs."""

from chassis.celery import make_celery

app = make_celery("chassis", "tests.settings")


@app.on_after_finalize.connect
def _import_handlers(**kwargs: object) -> None:
    # A service's handlers live in its apps' handlers.py (autodiscovered); the test
    # project keeps them in tests/handlers.py.
    import tests.handlers
    import tests.tasks  # noqa: F401

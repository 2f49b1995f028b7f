"""gunicorn settings of the benchmark: catalog-service's own (chassis.gunicorn_conf, as its
gunicorn.conf.py loads them, GUNICORN_* variables included) with two changes for a fair
measurement: no access log (one JSON line per request otherwise, formatted and written by the
worker that served it) and no worker recycling (a worker reboot mid-run costs about a second
of CPU on whichever target is running; BENCH_RECYCLE=1 keeps it)."""

import os

from chassis.gunicorn_conf import gunicorn_settings

_settings = gunicorn_settings("catalog")
_settings["logconfig_dict"]["loggers"]["gunicorn.access"]["level"] = "CRITICAL"
_settings["accesslog"] = None
if os.environ.get("BENCH_RECYCLE") != "1":
    _settings["max_requests"] = 0
    _settings["max_requests_jitter"] = 0
globals().update(_settings)

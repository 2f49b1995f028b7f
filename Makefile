# The platform's entry points. Each part (chassis/, users-service/, ...) has its own Makefile
# with its own `ci` target; this one installs what is needed and delegates.
PYTHON ?= python3
RUNNER := $(PYTHON) infra/local/runner.py
TOOLS := var/tools/bin
# The gateway's renderer, then every service the registry (infra/services.toml) names.
PARTS := gateway-config $(shell $(PYTHON) infra/local/registry.py dirs)

.PHONY: up down test lint bootstrap test-chassis test-gateway test-services test-system bench bench-catalog \
	bench-saga bench-broker bench-gateway-rules load scaffold-sync new-service workflows

## up: install, prepare and run the whole platform in the foreground (Ctrl-C stops it);
## SCALE="orders=3 catalog=2": N web and N worker processes for those services (one beat each)
up:
	@$(RUNNER) up

## down: stop a platform started by `make up` in another terminal
down:
	@$(RUNNER) down

bootstrap:
	@$(RUNNER) bootstrap

## test: every test of every part, against the local PostgreSQL / RabbitMQ / Redis
## (each service's own pipeline runs once, in the system tests: alone in an empty directory,
## from its lock and the chassis wheel, infra/tests/test_split.py)
test: bootstrap lint
	$(MAKE) test-chassis
	$(MAKE) test-gateway
	$(MAKE) test-system

# Each part's tests get database names and a RabbitMQ vhost of their own (infra/local/isolated),
# so two `make test` runs on one machine never share a test database or a queue.
test-chassis:
	infra/local/isolated chassis $(MAKE) -C chassis ci

test-gateway:
	infra/local/isolated gateway $(MAKE) -C gateway-config ci

## test-services: the gateway's and every service's pipeline here, in the repository (quicker
## feedback while working on one; `make test` runs the services' standalone instead)
test-services:
	@set -e; for part in $(PARTS); do infra/local/isolated $${part%-*} $(MAKE) -C $$part ci; done

test-system:
	$(TOOLS)/pytest -c infra/tests/pytest.ini infra/tests

## lint: ruff over the whole tree (each part's own pyproject settings apply inside it), the
## workflow and compose files against their schemas
lint: bootstrap
	$(TOOLS)/ruff check .
	$(TOOLS)/ruff format --check .
	$(TOOLS)/check-jsonschema --builtin-schema vendor.github-workflows \
		.github/workflows/*.yml */.github/workflows/*.yml
	$(TOOLS)/check-jsonschema --builtin-schema vendor.compose-spec \
		infra/compose.yaml infra/compose.haproxy.yaml

## bench: gateway overhead, GET /api/v1/users/me direct vs through the gateway (own platform;
## about 3 minutes; BENCH_ARGS="--rounds 1 --duration 3" for a quick run)
bench: bootstrap
	$(TOOLS)/python infra/bench/gateway_overhead.py $(BENCH_ARGS)

## bench-gateway-rules: what each part of the gateway's rules costs (HAProxy CPU per request,
## variants without jwt, rate-limiting, ... against a static upstream; about 2 minutes)
bench-gateway-rules: bootstrap
	$(TOOLS)/python infra/bench/gateway_rules.py $(BENCH_ARGS)

## bench-catalog: catalog-service's product list and detail at 10k and 1M products, and against
## a plain Django view running the same query (own databases bench_catalog_10k/_1m, seeded the
## first time, about 3 minutes; then about 10 minutes a run; BENCH_ARGS="--skip-1m --rounds 1
## --duration 3" for a quick run)
bench-catalog: bootstrap
	$(TOOLS)/python infra/bench/catalog_scale.py $(BENCH_ARGS)

## bench-saga: the order saga's knee through the gateway: the offered rate stepped up (10, 25,
## 50, 75, 100, 125, 150 orders/s, 20 s each, stopping after two steps that did not keep up), then
## 100/s held for 60 s; per step accepted/CONFIRMED per second, latencies, CPU by process group;
## pgbench and RabbitMQ ceilings (own platform, about 5-10 minutes;
## BENCH_ARGS="--steps 10,20 --step-seconds 5 --sustain 0" for a quick run)
bench-saga: bootstrap
	$(TOOLS)/python infra/bench/order_saga.py $(BENCH_ARGS)

## bench-broker: the embedded broker's candidates (kombu's filesystem transport, the chassis's,
## kombu's SQLAlchemy transport on SQLite): publish, drain, concurrent throughput, latency and
## cross-process routing (temporary folders, about a minute; BENCH_ARGS="--messages 200
## --samples 40" for a quick run)
bench-broker: bootstrap
	chassis/.venv/bin/python infra/bench/embedded_broker.py $(BENCH_ARGS)

## load: shoppers through the gateway of a running `make up` (Locust: infra/load/README.md):
## USERS (10) users started SPAWN_RATE (1) a second, for DURATION (1m), headless, then a
## summary (exit 1 above 1% failures); LOAD_HOST (the gateway, http://127.0.0.1:8000);
## UI=1: Locust's web UI on http://127.0.0.1:8089 (UI_PORT) instead; LOAD_ARGS="--think-time 1 3"
USERS ?= 10
SPAWN_RATE ?= 1
DURATION ?= 1m
UI_PORT ?= 8089
LOAD_HOST ?= http://127.0.0.1:$(or $(GATEWAY_PORT),8000)
load: bootstrap
	$(TOOLS)/locust -f infra/load/locustfile.py --host $(LOAD_HOST) --users $(USERS) \
		--spawn-rate $(SPAWN_RATE) --run-time $(DURATION) \
		$(if $(UI),--web-host 127.0.0.1 --web-port $(UI_PORT),--headless) $(LOAD_ARGS)

## scaffold-sync: re-render every service's boilerplate from infra/scaffold (after editing a
## template or hooks.toml; a repository test fails while a service differs from it)
scaffold-sync:
	$(PYTHON) infra/scaffold/render.py sync

## new-service: a new, empty, tested and routed service from the scaffold:
## make new-service NAME=payments PORT=8104 (then `make bootstrap` installs its venv)
new-service:
	$(PYTHON) infra/scaffold/render.py new $(NAME) $(PORT)
	$(PYTHON) infra/ci/workflows.py sync

## workflows: the root pipelines (.github/workflows/<part>.yml), copied from each part's own
## <part>/.github/workflows/ci.yml (GitHub runs only the root's; a test holds them equal)
workflows:
	$(PYTHON) infra/ci/workflows.py sync

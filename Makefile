# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1
export PORT HOST

.PHONY: run test lint serve-prod serve-cluster cluster-test bench bench-ci clean system-packages lock deps-check audit

# Running needs requirements.txt; tests, benches and lint add requirements-dev.txt.
$(BIN)/.installed: requirements.txt
	@echo "==> installing what running needs into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	@echo "==> installing test, bench and lint tools"
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Fingerprinted, pre-compressed static files (docs/static.md), collected again
# only when a source changed.
STATIC_SOURCES := $(shell find static -type f 2>/dev/null) requirements.txt
staticfiles/staticfiles.json: $(STATIC_SOURCES) | $(BIN)/.installed
	@echo "==> collecting static files (fingerprinted, gzip and brotli)"
	@$(BIN)/python manage.py collectstatic --noinput -v 0

# One line per step; the server's own log shows warnings and errors only.
run: $(BIN)/.installed staticfiles/staticfiles.json
	@echo "==> database: applying migrations"
	@$(BIN)/python manage.py migrate --noinput -v 0
	@printf "==> demo: " && LOG_LEVEL=WARNING $(BIN)/python manage.py seed_demo
	@echo "==> serving http://$(HOST):$(PORT)/  (desk: /desk/, admin: /admin/; Ctrl+C stops)"
	@$(BIN)/uvicorn liveblog.asgi:application --host $(HOST) --port $(PORT) --no-access-log --log-level warning

system-packages:
	@scripts/ensure-system-packages

test: $(BIN)/.installed-dev system-packages
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Dependencies (README, "Dependencies"): requirements*.in name what the code
# imports; `make lock` pins them and every transitive dependency with hashes
# into requirements*.txt (pip-tools). pip's own config (a local wheel
# directory) is left out so the hashes are the index's.
PIP_COMPILE := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile --quiet --generate-hashes \
	--strip-extras --no-emit-index-url --no-emit-find-links
lock: $(BIN)/.installed-dev
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in

# Unused, missing and transitive-only dependencies (deptry, config in pyproject.toml).
deps-check: $(BIN)/.installed-dev
	$(BIN)/deptry .

# Known vulnerabilities in the locked versions (pip-audit --strict). With no
# vulnerability service reachable it says "audit not done" and exits 0 in CI:
# never a pass it did not make (scripts/audit).
audit: $(BIN)/.installed-dev
	scripts/audit

clean:
	rm -rf $(VENV) db.sqlite3 .test-db.sqlite3* staticfiles

# Production profile on loopback: nginx (micro-cache + Nchan), several app
# processes, Celery worker and beat, local PostgreSQL and Redis (deploy/README.md).
# Secrets come from the environment (deploy/README.md, "Secrets");
# `make serve-prod ARGS=--generate-secrets` for a throwaway trial.
serve-prod: $(BIN)/.installed
	deploy/serve-prod $(ARGS)

# Benchmark of the production profile; writes bench/RESULTS.md (bench/README.md).
bench: $(BIN)/.installed-dev
	bench/run

# The same measurements, small and quick (run by .ci/run).
bench-ci: $(BIN)/.installed-dev
	bench/run --ci

# The cluster on loopback addresses: HAProxy, Varnish, two Nchan edges, two
# app nodes, PgBouncer, its own PostgreSQL and Redis (deploy/README.md).
serve-cluster: $(BIN)/.installed
	deploy/serve-cluster

# The cluster's failure drills (tests/test_cluster.py; a few minutes).
cluster-test: $(BIN)/.installed-dev system-packages
	$(BIN)/pytest -p no:cacheprovider -m cluster tests/test_cluster.py $(PYTEST_ARGS)

# Front door. `make demo` and `make test` work on a fresh machine (they create .venv).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export LOYALTY_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(LOYALTY_DATA_DIR)/dagster_home
MANIFEST := dbt_project/target/manifest.json

.PHONY: install manifest demo test dev run clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# dbt manifest for dagster-dbt: built here and in tests, never committed.
manifest: install
	cd $(CURDIR) && $(BIN)/dagster-dbt project prepare-and-package --file orchestration/defs/transform/project.py

demo: manifest
	$(BIN)/loyalty demo

test: manifest
	$(BIN)/python -m pytest -q

# The long end-to-end tests (marked slow): their own CI step, so `make test` stays near ten minutes.
.PHONY: test-slow
test-slow: manifest
	$(BIN)/python -m pytest -q -m slow

dev: manifest
	$(BIN)/python -c "from pathlib import Path; from orchestration.instance import ensure_dagster_home; ensure_dagster_home(Path('$(LOYALTY_DATA_DIR)'))"
	$(BIN)/dagster dev -w workspace.yaml

run: manifest
	$(BIN)/loyalty run --as-of $(AS_OF)

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs

# Dagster for a team: run history in PostgreSQL (README "Dagster storage"). A local server lives
# under $(LOYALTY_DATA_DIR)/postgres; its own Dagster home keeps a SQLite home's history apart.
export DAGSTER_PG_HOST ?= 127.0.0.1
export DAGSTER_PG_PORT ?= 5432
export DAGSTER_PG_USER ?= dagster
PG_DAGSTER_HOME := $(if $(filter environment command line,$(origin DAGSTER_HOME)),$(DAGSTER_HOME),$(LOYALTY_DATA_DIR)/dagster_home_postgres)

.PHONY: install-team dev-postgres test-postgres

$(BIN)/.installed-team: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[test,team]'
	touch $@

install-team: $(BIN)/.installed-team

dev-postgres: manifest install-team
	@test -n "$$DAGSTER_PG_PASSWORD" || { echo "set DAGSTER_PG_PASSWORD (the local server's password; Dagster reads it from the environment)"; exit 1; }
	$(BIN)/python -m orchestration.local_postgres start
	DAGSTER_HOME=$(PG_DAGSTER_HOME) $(BIN)/python -m orchestration.instance_postgres
	trap '$(BIN)/python -m orchestration.local_postgres stop' EXIT; trap 'exit 130' INT TERM; \
	  DAGSTER_HOME=$(PG_DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml

test-postgres: manifest install-team
	LOYALTY_TEST_POSTGRES=1 $(BIN)/python -m pytest -q tests/test_dagster_postgres.py

# After `make demo`: retake the README's Dagster UI screenshots (docs/img/; headless Chromium,
# `apt-get install -y chromium`). Starts and stops its own dagster-webserver on 127.0.0.1.
.PHONY: screenshots
screenshots: manifest
	$(BIN)/python bench/dagster_ui.py --dagster-home $(DAGSTER_HOME)

# BI: Apache Superset in its own venv (Python 3.11, DuckDB 1.x) on the serving copy of $(LOYALTY_DATA_DIR).
# `make demo` first; then `make superset` -> http://127.0.0.1:8088, dashboard "Loyalty overview",
# login SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD (default admin / admin, for local use).
SUPERSET_VENV ?= bi/superset/.venv
SUPERSET_PORT ?= 8088
CHROMIUM ?= /usr/bin/chromium

.PHONY: superset superset-install superset-setup superset-export chromium test-superset

$(SUPERSET_VENV)/.installed: bi/superset/requirements.txt bi/superset/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet -r bi/superset/requirements.txt -c bi/superset/constraints.txt
	touch $@

superset-install: $(SUPERSET_VENV)/.installed

# Metadata DB, admin user, roles, read-only connection to the serving copy, the dashboard (idempotent).
superset-setup: superset-install
	$(SUPERSET_VENV)/bin/python bi/superset/manage.py setup

superset: superset-setup
	$(SUPERSET_VENV)/bin/python bi/superset/manage.py serve --port $(SUPERSET_PORT)

# After editing the dashboard in the UI: write it back to bi/superset/assets (commit the YAML).
superset-export: superset-install
	$(SUPERSET_VENV)/bin/python bi/superset/manage.py export

# Headless Chromium (and a CJK font for the members' masked names) for the dashboard screenshot.
chromium:
	@{ test -x $(CHROMIUM) && dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; } || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei; }

test-superset: manifest superset-install chromium
	LOYALTY_TEST_SUPERSET=1 $(BIN)/python -m pytest -q tests/test_superset.py

# The Spark engine (README "Scale-out on Spark"): dbt-spark and pyspark in the same venv; a local
# standalone cluster (a master, two workers, a Thrift server) under $(LOYALTY_DATA_DIR)/spark.
.PHONY: install-spark spark-cluster spark-cluster-stop test-spark

$(BIN)/.installed-spark: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $@

install-spark: $(BIN)/.installed-spark

spark-cluster: install-spark
	$(BIN)/python -m orchestration.local_spark start

spark-cluster-stop:
	$(BIN)/python -m orchestration.local_spark stop

# Starts its own cluster on free ports and stops it (by pid) when done.
test-spark: manifest install-spark
	LOYALTY_TEST_SPARK=1 $(BIN)/python -m pytest -q tests/test_spark_engine.py

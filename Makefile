# The README's words. `make run` brings everything up; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
QALA := $(VENV)/bin/qala
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install os-deps db-up db-down clean-db

# Python packages from pyproject.toml; Leaflet and its plugins from npm (web/package-lock.json)
$(STAMP): pyproject.toml web/package-lock.json
	@echo "qala: Python packages into $(VENV) (a few minutes the first time) ..."
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --progress-bar on -e '.[dev,bench]'
	@command -v npm >/dev/null || bash .ci/os-deps
	@echo "qala: Leaflet and the pages' other libraries from npm ..."
	cd web && npm ci --no-audit --no-fund
	touch $(STAMP)

install: $(STAMP)

# OS packages the tests need besides PostGIS (which `qala db up` installs itself): Chromium.
os-deps:
	@bash .ci/os-deps

run: install
	$(QALA) run

db-up: install
	$(QALA) db up

db-down: install
	$(QALA) db down

test: install os-deps
	bash .ci/pytest

bench: install
	$(PY) -m bench.run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Contact Sync — the two commands of the README's quick start, and their helpers.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test lint typecheck checks pytest bench clean

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	@printf '%s\n' '#!/bin/sh' \
	  '# Contact Sync command line (written by make venv): manage.py with this venv.' \
	  '# Without a .env it runs on the development defaults, as make demo does.' \
	  'here=$$(cd "$$(dirname "$$0")/../.." && pwd)' \
	  '[ -f "$$here/.env" ] || export DJANGO_DEBUG="$${DJANGO_DEBUG:-1}"' \
	  'exec "$$here/$(VENV)/bin/python" "$$here/manage.py" "$$@"' > $(BIN)/contactsync
	@chmod +x $(BIN)/contactsync
	@touch $(STAMP)

## venv: create or update the virtualenv from the pinned locks (runtime + development),
## with .venv/bin/contactsync, the command line
venv: $(STAMP)

## demo: run the product on its embedded default (SQLite, filesystem broker, simulators);
## PORT=8000 and SIM_PORTS=8801 (the first of the simulators' three ports) move it
PORT ?= 8000
SIM_PORTS ?= 8801
demo: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py demo --port $(PORT) --sim-ports $(SIM_PORTS)

## test: lint, type-check, Django checks, migrations check and the whole test suite
test: venv lint typecheck checks pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy .

checks:
	DJANGO_SETTINGS_MODULE=syncapp.settings.test $(BIN)/python manage.py check
	DJANGO_SETTINGS_MODULE=syncapp.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: first-sync speed and memory against the simulators (scratch DB under var/bench)
BENCH_CUSTOMERS ?= 1000
bench: venv
	DJANGO_DEBUG=1 CONTACT_SYNC_VAR_DIR=var/bench $(BIN)/python manage.py migrate -v0
	DJANGO_DEBUG=1 CONTACT_SYNC_VAR_DIR=var/bench $(BIN)/python manage.py benchmark --customers $(BENCH_CUSTOMERS)

clean:
	rm -rf $(VENV) var/test .pytest_cache .mypy_cache .ruff_cache

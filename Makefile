# dripfleet — the two commands: `make up` runs the whole system, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the real WhatsApp transport's own environment: neonize needs protobuf 7, Dagster protobuf < 7
NZVENV ?= .venv-neonize
NZSTAMP := $(NZVENV)/.installed

.PHONY: up test install lint bench clean-data screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[app,test]'
	touch $@

$(NZSTAMP): pyproject.toml
	test -x $(NZVENV)/bin/python || $(PYTHON) -m venv $(NZVENV)
	$(NZVENV)/bin/python -m pip install --quiet --upgrade pip
	$(NZVENV)/bin/python -m pip install --quiet -e '.[neonize]' 'pytest>=8.3' 'pytest-timeout>=2.3'
	touch $@

install: $(STAMP) $(NZSTAMP)

## run everything on this machine (embedded PostgreSQL unless DATABASE_URL is set)
## (TRANSPORT=neonize: the device host runs from .venv-neonize, built here when missing)
up: $(STAMP) $(if $(filter neonize,$(TRANSPORT)),$(NZSTAMP))
	exec $(BIN)/dripfleet up

## the whole test suite (TEST_DATABASE_URL names a server; unset: an embedded one)
## TEST_WORKERS pytest-xdist processes: most tests wait on processes, servers and browsers, so
## four share two cores well (each worker has its own databases: tests/conftest.py)
TEST_WORKERS ?= 4
test: $(STAMP) $(NZSTAMP)
	sh tests/pages/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS)
	$(NZVENV)/bin/pytest -o 'filterwarnings=error' tests/neonize

## the browser tests, saving their screenshots over the README's (docs/screenshots/)
screenshots: $(STAMP)
	sh tests/pages/ensure_chromium.sh
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest tests/pages

lint: $(STAMP)
	$(BIN)/ruff check .

## benchmarks: each prints one BENCH line with its figure beside a baseline
bench: $(STAMP)
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean-data:
	rm -rf .data

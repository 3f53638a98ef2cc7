# dripfleet — the two commands: `make up` runs the whole system, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test install lint bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

## run everything on this machine (embedded PostgreSQL unless DATABASE_URL is set)
up: $(STAMP)
	exec $(BIN)/dripfleet up

## the whole test suite (TEST_DATABASE_URL names a server; unset: an embedded one)
test: $(STAMP)
	sh tests/pages/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

## benchmarks: each prints one BENCH line with its figure beside a baseline
bench: $(STAMP)
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean-data:
	rm -rf .data

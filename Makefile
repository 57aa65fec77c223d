# Two entry points: `make demo` and `make test`. Both work on a fresh machine that has only
# Python >= 3.11 and make: the virtualenv is created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean pgtest-start pgtest-stop

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/walletlink demo

lint: $(STAMP)
	$(BIN)/ruff check walletlink tests examples benchmarks
	$(BIN)/ruff format --check walletlink tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy walletlink

# The PostgreSQL journal tests need a real server: scripts/pgtest.sh starts a throwaway one
# (installing Debian's postgresql when missing) and exports WALLETLINK_TEST_PG_DSN.
pytest: $(STAMP)
	bash scripts/pgtest.sh run $(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	bash scripts/pgtest.sh run $(BIN)/pytest -m slow benchmarks -s

pgtest-start:
	bash scripts/pgtest.sh start

pgtest-stop:
	bash scripts/pgtest.sh stop

clean: pgtest-stop
	rm -rf $(VENV) build *.egg-info

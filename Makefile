# Two entry points: `make demo` and `make test`. Both work on a fresh machine that has only
# Python >= 3.11 and make: the virtualenv is created on first use. The demo needs only the
# runtime dependencies, so it installs nothing else; the tests install the dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck docs pytest bench reliability dist clean pgtest-start pgtest-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(RUNTIME_STAMP) $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/walletlink demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check walletlink tests examples benchmarks
	$(BIN)/ruff format --check walletlink tests examples benchmarks

typecheck: $(DEV_STAMP)
	$(BIN)/mypy walletlink

# The PostgreSQL journal tests need a real server: scripts/pgtest.sh starts a throwaway one
# (installing Debian's postgresql when missing) and exports WALLETLINK_TEST_PG_DSN.
pytest: $(DEV_STAMP)
	bash scripts/pgtest.sh run $(BIN)/pytest

# The documentation site (mkdocs-material, API reference from the docstrings) in build/site;
# --strict turns every broken link, missing page or unresolved reference into a failure (and
# no --quiet: it hides the warnings, and then --strict lets them pass).
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint typecheck docs pytest

bench: $(DEV_STAMP)
	bash scripts/pgtest.sh run $(BIN)/pytest -m slow benchmarks -s

# The T1-T16 reliability suite (tests/reliability, docs/reliability.md) at its published
# counts; `make test` runs the same tests at a quick scale. atheris is optional: the fuzz
# row falls back to a mutation loop where no wheel installs.
reliability: $(DEV_STAMP)
	-$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	WALLETLINK_RELIABILITY_SCALE=full $(BIN)/pytest tests/reliability

pgtest-start:
	bash scripts/pgtest.sh start

pgtest-stop:
	bash scripts/pgtest.sh stop

# Build the sdist and the wheel (the wheel from the sdist, so a file missing from the sdist
# breaks the build), check their metadata, then install the wheel into a clean virtualenv
# and run every example against it, outside the source tree.
dist: $(DEV_STAMP)
	rm -rf dist build/dist-venv build/dist-run
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	for member in LICENSE CHANGELOG.md docs/index.md examples/quickstart.py tests/test_client.py; do \
		tar tzf dist/walletlink-*.tar.gz | grep -q "^walletlink-[^/]*/$$member$$" \
			|| { echo "sdist lacks $$member"; exit 1; }; \
	done
	$(PYTHON) -m venv build/dist-venv
	# The examples include SM2 (cn_bank_sm_payment.py), so the wheel goes in with its sm extra.
	build/dist-venv/bin/python -m pip install --quiet "$$(ls dist/walletlink-*.whl)[sm]"
	mkdir -p build/dist-run
	for example in examples/*.py; do \
		(cd build/dist-run && ../dist-venv/bin/python ../../$$example > /dev/null) \
			|| { echo "$$example failed against the wheel"; exit 1; }; \
	done
	@echo "dist: sdist and wheel built, checked, installed and every example ran"

clean: pgtest-stop
	rm -rf $(VENV) build dist *.egg-info

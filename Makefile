# `make test` goes from a fresh clone to a green run: it creates .venv, installs, and checks.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit bench demo stack chaos docs deploy-files clean dist

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "kugel needs Python >= 3.11 on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check kugel_common services tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict kugel_common services

unit: $(STAMP)
	$(BIN)/pytest

# A wheel and an sdist in dist/ (README, "Install"); the wheel is built from the sdist.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The acceptance test of `kugel new`: build the wheel, install it in a fresh venv, generate a
# project and run its own tests (about 25 s; CI runs it after make test).
.PHONY: test-packaging
test-packaging: $(STAMP)
	$(BIN)/pytest -m packaging tests/packaging

# The suite again, on the lowest version of each direct dependency that pyproject.toml allows
# (scripts/lowest_constraints.py pins them), so a lower bound that does not work cannot ship.
# Its own venv, on Python 3.11 (the lowest requires-python allows) when it is on PATH; lint and
# types run on the newest versions in `make test`.
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed
LOWEST_PYTHON ?= $(shell python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null || echo $(PYTHON))

$(LOWEST_STAMP): pyproject.toml scripts/lowest_constraints.py
	@test -n "$(LOWEST_PYTHON)" || { echo "kugel needs Python >= 3.11 on PATH"; exit 1; }
	test -x $(LOWEST)/bin/python || $(LOWEST_PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip packaging
	$(LOWEST)/bin/python scripts/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e '.[dev]'
	touch $(LOWEST_STAMP)

.PHONY: test-lowest
test-lowest: $(LOWEST_STAMP)
	$(LOWEST)/bin/pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/http_client.py
	$(BIN)/python bench/dapr_publish.py
	$(BIN)/python bench/breaker_load.py
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/tracing.py

docs: $(STAMP)
	$(BIN)/python scripts/gen_config_docs.py > docs/configuration.md

deploy-files: $(STAMP)
	$(BIN)/python scripts/gen_deploy.py

# The crash suite: SIGKILL each part of the stack 20 times at random points (seeds printed).
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.crash --runs 100

# Long fuzzing runs; `make test` runs short versions of each.
.PHONY: fuzz fuzz-api fuzz-sidecar
fuzz: fuzz-api fuzz-sidecar

# Hypothesis against every endpoint of the local sidecar, 20 000 examples (docs/testing.md).
fuzz-sidecar: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/fuzz

# Schemathesis against each reference service's OpenAPI on the real stack (docs/testing.md).
fuzz-api: $(STAMP)
	$(BIN)/python -m tests.api_fuzz.run --max-examples 200

# The conformance suite, then the official JavaScript SDK against the local sidecar (when node
# and npm are installed; npm ci fetches its pinned packages). `make test` runs both too, the JS
# part only once its packages are installed. Then the end-to-end outage run on Redis at full
# length (`make test` runs a short one).
.PHONY: conformance
conformance: $(STAMP)
	$(BIN)/pytest -q tests/conformance --ignore=tests/conformance/test_js_sdk.py
	KUGEL_REDIS_FULL=1 $(BIN)/pytest -q tests/integration/test_dapr_end_to_end.py -k redis
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		(cd tests/conformance/js && npm ci --no-audit --no-fund --loglevel=error) && \
		$(BIN)/python -m tests.conformance.sdk_js; \
	else \
		echo "conformance: node and npm are not installed: the JavaScript SDK tests are skipped"; \
	fi

demo: $(STAMP)
	$(BIN)/python -m services.demo

stack: $(STAMP)
	$(BIN)/python -m services.stack

# docker-compose.yml run for real without Docker, then the demo's sale through it (needs root:
# one network namespace per service; docs/operations.md).
.PHONY: compose-native
compose-native: $(STAMP)
	$(BIN)/python -m services.compose_native

clean:
	rm -rf $(VENV) $(LOWEST) .mypy_cache .ruff_cache .pytest_cache dist

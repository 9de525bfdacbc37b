# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# uv (pinned) is installed into that Python if missing; everything else comes from uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
STUDENTS ?= 100000

# The district report's browser test: Debian's Chromium and playwright-core (tests/browser).
BROWSER_TEST_DIR := tests/browser
CHROMIUM := /usr/bin/chromium
APT_GET := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install browser-test-deps demo test ui bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@# Compiled once here: every process (each dbt call, CLI run and test worker) would otherwise
	@# compile its imports again wherever bytecode is not written (PYTHONDONTWRITEBYTECODE).
	@$(UV) sync --frozen --quiet --compile-bytecode
	@$(RUN) python -m compileall -q interop_pipeline

demo: install  ## generate the demo district and run the whole pipeline on it
	$(RUN) interop-pipeline demo

# Idempotent and quick once done: installs only what is missing. Where it cannot install, it says so
# and the browser test skips with the reason.
browser-test-deps:  ## Chromium (apt) and node's playwright-core (npm ci) for the report's browser test
	@test -x $(CHROMIUM) || { $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "warning: could not install chromium with apt-get; the report's browser test will skip"
	@command -v npm >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends nodejs npm >/dev/null; } \
	  || echo "warning: could not install node and npm with apt-get; the report's browser test will skip"
	@test -d $(BROWSER_TEST_DIR)/node_modules || ! command -v npm >/dev/null \
	  || npm ci --prefix $(BROWSER_TEST_DIR) --no-audit --no-fund --silent \
	  || echo "warning: npm ci failed in $(BROWSER_TEST_DIR); the report's browser test will skip"

test: install browser-test-deps  ## lint, then the whole test suite (what CI runs)
	$(RUN) ruff check interop_pipeline tests bench
	$(RUN) pytest -n 3 --dist loadgroup --no-loadscope-reorder

ui: install  ## the Dagster UI on http://127.0.0.1:3000 for the demo district
	@test -f data/truth/system_students.parquet || $(RUN) interop-pipeline generate
	@# Recovery first, the simulated vendor APIs beside the UI; Ctrl-C stops all of it.
	@$(RUN) interop-pipeline ui

bench: install  ## time every pipeline stage at each size in STUDENTS (STUDENTS="10000 100000": growth between them)
	$(RUN) python bench/bench_pipeline.py --students $(STUDENTS)

clean:  ## remove generated data (keeps the demo config and the Dagster instance config)
	rm -rf data/landing data/warehouse data/published data/drops data/truth data/bench

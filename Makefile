# Wattgate: `make serve` runs the gateway, `make test` runs every test, `make demo` runs the
# gateway offline against the bundled mock upstream. Each creates the virtualenv (.venv) and
# installs what it needs on first use; afterwards the CLI is .venv/bin/wattgate.
#
#   make serve PORT=4100        the gateway on another port (default: WATTGATE_PORT or 4000)
#   make mock PORT=9100         the mock upstream on another port (default 9000)
#   make demo                   both together: mock on MOCK_PORT (9000), gateway on PORT

PYTHON    ?= python3
VENV      ?= .venv
BIN        = $(VENV)/bin
STAMP      = $(VENV)/.installed
LOCK       = $(VENV).lock
PORT      ?=
MOCK_PORT ?= 9000

.PHONY: serve test mock demo bench bench-estimator clean

# One set-up at a time: targets started together (`make mock & make serve`) take turns on
# a lock (a directory: mkdir is atomic), and whoever comes second finds the work done.
$(STAMP): pyproject.toml setup.py
	@if ! mkdir $(LOCK) 2>/dev/null; then \
	  echo "waiting for another set-up of $(VENV) to finish (remove $(LOCK) if none runs)"; \
	  until mkdir $(LOCK) 2>/dev/null; do sleep 1; done; \
	fi; \
	trap 'rmdir $(LOCK) 2>/dev/null' EXIT; trap 'exit 1' INT TERM; \
	if [ $(STAMP) -nt pyproject.toml ] && [ $(STAMP) -nt setup.py ]; then exit 0; fi; \
	set -e; \
	echo "setting up $(VENV) (first time: a minute or two)"; \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -e '.[dev]'; \
	touch $(STAMP); \
	echo "set up: the wattgate command is $(BIN)/wattgate"

serve: $(STAMP)  ## run the gateway on 127.0.0.1:4000 (SQLite, api.openai.com)
	$(BIN)/wattgate serve $(if $(PORT),--port $(PORT))

test: $(STAMP)  ## run the whole test suite (PostgreSQL tests need WATTGATE_TEST_PG_URL)
	$(BIN)/python -m pytest -q

mock: $(STAMP)  ## a local mock upstream on 127.0.0.1:9000 for offline demos
	$(BIN)/wattgate mock-upstream --port $(or $(PORT),$(MOCK_PORT))

demo: $(STAMP)  ## the mock upstream and the gateway together, offline; Ctrl-C stops both
	@$(BIN)/wattgate mock-upstream --port $(MOCK_PORT) & mock=$$!; \
	trap 'kill $$mock 2>/dev/null' EXIT INT TERM; \
	WATTGATE_UPSTREAM_BASE_URL=http://127.0.0.1:$(MOCK_PORT)/v1 \
	  $(BIN)/wattgate serve $(if $(PORT),--port $(PORT))

bench: $(STAMP)  ## proxy overhead benchmark (needs wrk: apt-get install wrk)
	$(BIN)/python bench/proxy_overhead.py

bench-estimator: $(STAMP)
	$(BIN)/python bench/estimator_speed.py

clean:
	rm -rf $(VENV) $(LOCK) .pytest_cache .hypothesis *.egg-info build

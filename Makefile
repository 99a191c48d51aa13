# Wattgate: `make serve` runs the gateway, `make test` runs every test.
# Both create the virtualenv (.venv) and install what they need on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: serve test mock bench bench-estimator clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)  ## run the gateway on 127.0.0.1:4000 (SQLite, api.openai.com)
	$(BIN)/wattgate serve

test: $(STAMP)  ## run the whole test suite (PostgreSQL tests need WATTGATE_TEST_PG_URL)
	$(BIN)/python -m pytest -q

mock: $(STAMP)  ## a local mock upstream on 127.0.0.1:9000 for offline demos
	$(BIN)/wattgate mock-upstream --port 9000

bench: $(STAMP)  ## proxy overhead benchmark (needs wrk: apt-get install wrk)
	$(BIN)/python bench/proxy_overhead.py

bench-estimator: $(STAMP)
	$(BIN)/python bench/estimator_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs, runs the main job end to end on embedded defaults
#   make test   creates .venv, installs, lints, checks the import contracts, runs the whole test suite
# and one is the fast tier while working:
#   make check  lint, the import contracts and every test that trains nothing (under 2 minutes)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_HOME ?= $(CURDIR)/demo-home

.PHONY: demo test check lint install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray,chronos]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	FORECAST_HOME="$(DEMO_HOME)" PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check api datasets exports forecast resources tests
	$(VENV)/bin/lint-imports

check: lint
	$(PY) -m pytest -m "not slow" -q

test: lint
	$(PY) -m pytest

# Every benchmark in bench/README.md, one after another (trains full-size models: tens of minutes).
BENCHES := import_bench.py long_import_bench.py "tourism_bench.py monthly" "tourism_bench.py quarterly" \
           statistical_bench.py forecast_generation_bench.py query_latency_bench.py aws_query_bench.py \
           export_bench.py

bench: $(STAMP)
	set -e; for b in $(BENCHES); do echo "== bench/$$b"; $(PY) bench/$$b; done

clean:
	rm -rf $(VENV) demo-home .pytest_cache

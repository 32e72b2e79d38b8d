# Two commands do all the set-up (see README):  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean install

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xmargin demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pricing.py
	$(BIN)/python benchmarks/bench_whatif.py
	$(BIN)/xmargin bench book --accounts 100000
	$(BIN)/python benchmarks/bench_book_scaling.py
	$(BIN)/python benchmarks/bench_ledger.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

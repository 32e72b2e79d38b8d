# Two commands do all the set-up (see README):  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean install lock

# Both commands install the same pinned set: requirements.lock (every extra and the test tools, resolved from
# pyproject.toml's ranges by `make lock`), then xmargin itself without touching those pins.
$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

lock: $(STAMP)
	$(BIN)/python -m pip install -q uv
	$(BIN)/python -m uv pip compile pyproject.toml --extra all --extra test --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --no-header -o requirements.lock

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

# The two commands of the README: `make run` (dashboard) and `make test` (whole suite).
# Both create .venv in the repository root when missing and install the pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

bench: $(VENV)/.runtime
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

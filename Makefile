# tfvocoder developer commands. `make test` is the one CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest-xdist workers (test files stay whole on one worker: module fixtures).
TEST_WORKERS ?= 2

.PHONY: install test run bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

# The main job on the built-in data: train (quickstart.flags), export,
# vocode a held-out example, evaluate against Griffin-Lim. The commands set
# their own log levels (tfvocoder/cli.py: TensorFlow's warnings and errors).
run: $(STAMP)
	$(PY) -m tfvocoder.quickstart

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info

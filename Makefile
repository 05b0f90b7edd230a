# The two set-up commands of the README: `make demo` and `make test`. Both create .venv and
# install through constraints.txt, which pins torch==2.13.0 (an unpinned install pulls GBs of CUDA).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ROOT ?= demo_data

.PHONY: venv demo test lint clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=15

demo: $(STAMP)
	$(PY) -m fasnas data synth $(DEMO_ROOT) --scale 0.1 --size 64 --seed 0 --workers 2
	$(PY) -m fasnas data check $(DEMO_ROOT)

lint: $(STAMP)
	$(VENV)/bin/ruff check fasnas tests benchmarks
	$(VENV)/bin/ruff format --check fasnas tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_ROOT) .pytest_cache

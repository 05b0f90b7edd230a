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
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,deploy]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=15

# The whole chain on the embedded default (synthetic MCIO, tiny teachers), on 2 CPU cores.
DEMO := studies/demo.yaml
FASNAS := $(VENV)/bin/fasnas

demo: $(STAMP)
	rm -rf $(DEMO_ROOT) cache teachers/demo studies/demo.journal studies/demo-artifacts reports/demo
	$(FASNAS) data synth $(DEMO_ROOT) --scale 0.25 --size 64 --seed 0 --workers 2
	$(FASNAS) data check $(DEMO_ROOT)
	$(FASNAS) teacher pretrain --config $(DEMO) --quiet
	OMP_NUM_THREADS=1 $(FASNAS) teacher train --config $(DEMO) --protocol M C --quiet & pid=$$!; \
	OMP_NUM_THREADS=1 $(FASNAS) teacher train --config $(DEMO) --protocol I O --quiet; rc=$$?; \
	wait $$pid && exit $$rc
	$(FASNAS) teacher cache --config $(DEMO) --quiet
	$(FASNAS) study start $(DEMO) --workers 2 --n-trials 16
	$(FASNAS) study confirm $(DEMO) --top 3 --seeds 2 --workers 2
	$(FASNAS) bench $(DEMO) --workers 2 --quiet
	$(FASNAS) study status $(DEMO)
	$(FASNAS) report $(DEMO) --out reports/demo
	@echo "demo report: $(CURDIR)/reports/demo/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check fasnas tests benchmarks
	$(VENV)/bin/ruff format --check fasnas tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_ROOT) .pytest_cache

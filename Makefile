# The two set-up commands of the README: `make demo` and `make test`.
# Each creates the virtual environment .venv and installs what it needs by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test browser bench clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Debian's chromium for the real-browser test (Playwright drives it; never `playwright install`).
browser:
	@[ -x $(CHROMIUM) ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

demo: $(VENV)/.installed
	$(VENV)/bin/shoekit workbench --demo

test: $(VENV)/.installed browser
	$(PY) -m pytest -q

# Speed benchmarks (results in benchmarks/results/); the workbench and index ones read the demo run.
bench: $(VENV)/.installed
	$(PY) benchmarks/bench_model_speed.py
	$(PY) benchmarks/bench_attention_cost.py
	$(PY) benchmarks/bench_cctv.py
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_onnx.py
	$(VENV)/bin/shoekit demo --no-progress
	$(PY) benchmarks/bench_workbench.py --runs demo/runs
	$(PY) benchmarks/bench_index.py --run demo/runs/dual_pool

clean-venv:
	rm -rf $(VENV)

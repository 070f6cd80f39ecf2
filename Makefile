# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-all bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@# python-glmnet is an optional oracle: its tests are skipped where it does not install.
	-$(PY) -m pip install -q python-glmnet
	touch $@

demo: $(VENV)/.installed
	$(PY) -m jaxreg.demo --out jaxreg-demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ""

bench: $(VENV)/.installed
	-$(PY) -m pip install -q celer skglm
	$(PY) benchmarks/bench_path.py
	$(PY) benchmarks/bench_cv.py

clean:
	rm -rf $(VENV) jaxreg-demo .pytest_cache

# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-all notebooks bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@# python-glmnet is an optional oracle: its tests are skipped where it does not install.
	-$(PY) -m pip install -q python-glmnet
	touch $@

demo: $(VENV)/.installed
	$(PY) -m jaxreg.demo --out jaxreg-demo

# Test processes (pytest-xdist): the suite is mostly XLA compilation, one core per program,
# so two workers take 6.5 minutes on a 2-core machine where one takes 10.5.
TEST_WORKERS ?= 2

test: $(VENV)/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m ""

# The notebooks at full size (tens of minutes on 2 cores); `make test` runs them in small mode.
notebooks: $(VENV)/.installed
	$(PY) -m pytest -q -s -m "" tests/test_notebooks.py

bench: $(VENV)/.installed
	@# The full run (about an hour or more; not part of CI). Optional peers: a library that does
	@# not install is reported "skipped: not installed". adelie pins numpy < 2, which jax cannot
	@# share, so it gets its own environment, benchmarks/.venv-adelie.
	-$(PY) -m pip install -q celer skglm glum
	-test -f benchmarks/.venv-adelie/.installed || ($(PYTHON) -m venv benchmarks/.venv-adelie && \
		benchmarks/.venv-adelie/bin/pip install -q adelie && touch benchmarks/.venv-adelie/.installed)
	JAXREG_BENCH_ADELIE_PYTHON=benchmarks/.venv-adelie/bin/python $(PY) benchmarks/bench_path.py --cells all
	$(PY) benchmarks/bench_cv.py
	$(PY) benchmarks/bench_compile.py
	$(PY) benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) jaxreg-demo .pytest_cache

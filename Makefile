# likewise: set-up and everyday commands. Every target creates what it needs.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip --disable-pip-version-check -q
export PIP_CONSTRAINT = $(CURDIR)/constraints.txt

.PHONY: quickstart test venv venv-core bench-venv lint typecheck clean

# Core install only: what a user of the quickstart needs.
$(VENV)/.core-installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

# Everything the test-suite exercises (all extras but spark, plus dev tools).
$(VENV)/.test-installed: $(VENV)/.core-installed
	$(PIP) install -e '.[dev,ann,text,image,torch,serve,mlflow]'
	touch $@

venv-core: $(VENV)/.core-installed
venv: $(VENV)/.test-installed

quickstart: $(VENV)/.core-installed
	$(VENV)/bin/likewise quickstart

# CI runs this (.ci/run): the lint rules and the type check first (seconds), then the suite.
test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -n 2 -q

# A separate environment with the peer libraries (scikit-surprise, implicit) for benchmarks.
bench-venv:
	test -x benchmarks/.venv/bin/python || $(PYTHON) -m venv benchmarks/.venv
	benchmarks/.venv/bin/python -m pip -q install -e '.[ann]' -r benchmarks/requirements.txt

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks

# mypy on the public API listed in pyproject.toml [tool.mypy]
typecheck: $(VENV)/.test-installed
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) benchmarks/.venv build *.egg-info src/*.egg-info .mypy_cache

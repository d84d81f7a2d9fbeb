# Two commands do everything on a fresh machine:
#   make demo   - create .venv, install roicore and every plugin under plugins/, run the demo
#   make test   - the same install plus test dependencies (each plugin's [test] extra), then the whole
#                 suite, the conformance kit, and the kit again from installed wheels outside the tree
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
STAMP := $(VENV)/.roicore-installed

.PHONY: install demo test check bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' $(foreach dir,$(PLUGIN_DIRS),-e '$(dir)[test]')
	touch $(STAMP)

demo: install
	$(BIN)/roicore demo demo-output

test: install
	$(BIN)/python -m pytest -q tests $(addsuffix /tests,$(PLUGIN_DIRS))
	$(BIN)/roicore check --all
	bash .ci/check-installed-wheels $(abspath $(BIN)/python)

check: install
	$(BIN)/roicore check --all

bench: install
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis

docs: install
	$(BIN)/python docs/generate.py

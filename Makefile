# `make run` and `make test` are the two commands; everything else is a step they call.
SHELL := /bin/bash
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# pyenv reads .python-version; elsewhere any python3.10 on PATH does.
PYTHON310 := $(shell command -v python3.10 2>/dev/null)

SPACY_MODEL := models/spacy/en_upper_back
MODEL := models/upper-back.tar.gz
TRAINING_INPUTS := $(shell find data -type f -not -name '*.pyc') domain.yml config.yml $(SPACY_MODEL)/meta.json

.PHONY: help setup train run shell validate test lint format bench purge clean

help:
	@echo "make run    set up, train if needed, and serve the bot"
	@echo "make test   set up, train if needed, and run every test"
	@echo "other: train shell validate lint format bench clean"

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

# The browser tests drive Debian's chromium, never a downloaded browser.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y chromium

test: train lint $(CHROMIUM)
	$(BIN)/pytest

bench: train
	$(PY) -m bench.run

purge: $(VENV)/.installed
	$(PY) -m bot.retention

clean:
	rm -rf models/spacy models/*.tar.gz reports results tests/output

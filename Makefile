# `make run` and `make test` are the two commands; everything else is a step they call.
SHELL := /bin/bash
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The action server runs in its own environment, with only what it needs.
ACTIONS_VENV := .venv-actions
# pyenv reads .python-version; elsewhere any python3.10 on PATH does, or pyenv's own
# install when its shims are not on PATH.
PYTHON310 := $(shell command -v python3.10 2>/dev/null || ls -d $(HOME)/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | tail -n 1)

SPACY_MODEL := models/spacy/en_upper_back
MODEL := models/upper-back.tar.gz
# The answers (data/knowledge), the emergency numbers and the trainers' intent guide are
# read at run time, so changing them retrains nothing.
RUN_TIME_DATA := -not -path 'data/knowledge/*' -not -path data/safety/emergency_numbers.yml \
	-not -path data/intent_guide.yml
# The trained components' code too: a change there can change what a model holds.
TRAINING_INPUTS := $(shell find data -type f $(RUN_TIME_DATA)) domain.yml config.yml $(SPACY_MODEL)/meta.json \
	$(shell find bot/nlu -name '*.py')

.PHONY: help setup train run shell validate test test-fast lint format bench profile soak purge clean trainer inbox evaluate cluster safety-report screenshots compare-classifiers

help:
	@echo "make run    set up, train if needed, and serve the bot"
	@echo "make test   set up, train if needed, and run every test"
	@echo "make cluster REPLICAS=2   replicas behind nginx (DATABASE_URL, REDIS_URL; README: Scaling out)"
	@echo "trainers: inbox evaluate trainer (web workbench), see docs/training.md"
	@echo "make safety-report   safety figures per group on the vignettes (README: Safety)"
	@echo "make screenshots   the chat page at 1280 px and 390 px, into docs/screenshots/"
	@echo "other: train shell validate lint format bench profile compare-classifiers soak purge clean"

PIP := pip install --quiet --disable-pip-version-check
NO_LOCATION_WARNINGS := 2> >(grep -v "^WARNING: Location" >&2)

define need_python310
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "Python 3.10 is required (Rasa 3.6 does not run on 3.11+)."; \
	  echo "Install it, e.g. 'pyenv install 3.10.13' (this repo's .python-version selects it)."; \
	  exit 1; fi
endef

$(VENV)/.runtime: requirements/runtime.txt pyproject.toml
	$(need_python310)
	$(PYTHON310) -m venv $(VENV)
	$(BIN)/$(PIP) -r requirements/runtime.txt $(NO_LOCATION_WARNINGS)
	$(BIN)/$(PIP) --no-deps --no-build-isolation -e . $(NO_LOCATION_WARNINGS)
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(BIN)/$(PIP) -r requirements/dev.txt $(NO_LOCATION_WARNINGS)
	touch $@

$(ACTIONS_VENV)/.installed: requirements/actions.txt
	$(need_python310)
	$(PYTHON310) -m venv $(ACTIONS_VENV)
	$(ACTIONS_VENV)/bin/$(PIP) -r requirements/actions.txt $(NO_LOCATION_WARNINGS)
	touch $@

$(SPACY_MODEL)/meta.json: $(VENV)/.runtime $(wildcard ops/spacy_pipeline/*) data/lexicon/topics.yml
	$(PY) -m ops.spacy_pipeline.build --output $(SPACY_MODEL)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.runtime $(ACTIONS_VENV)/.installed $(SPACY_MODEL)/meta.json node_modules/.installed

$(MODEL): $(VENV)/.runtime $(TRAINING_INPUTS)
	$(BIN)/rasa train --fixed-model-name upper-back --out models

train: setup $(MODEL)

run: train
	$(PY) -m ops.launcher

shell: train
	$(PY) -m ops.launcher --shell

validate: setup
	$(BIN)/rasa data validate

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

# The browser tests drive Debian's chromium, never a downloaded browser.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(AS_ROOT) apt-get update
	$(AS_ROOT) apt-get install -y chromium

# The pages show 👍 👎; without an emoji font Chromium draws them as empty boxes, so the
# screenshots and the browser tests would not see what people see.
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
$(EMOJI_FONT):
	$(AS_ROOT) apt-get update
	$(AS_ROOT) apt-get install -y fonts-noto-color-emoji

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

# The safety gate runs the bot under Debian's libfaketime, at the date the vignettes assume.
FAKETIME := /usr/bin/faketime
$(FAKETIME):
	$(AS_ROOT) apt-get update
	$(AS_ROOT) apt-get install -y faketime

test: train $(VENV)/.dev lint $(CHROMIUM) $(EMOJI_FONT) $(NGINX) $(FAKETIME)
	$(BIN)/pytest

# Figures per group on both halves of tests/safety/; dev failures with input and reply,
# test failures only counted. The same gate as `make test` (trainer/safety_gate.py).
safety-report: train $(FAKETIME)
	$(PY) -m trainer.safety_gate

# The tests that need no server, browser or database: a quick check while editing.
test-fast: setup $(VENV)/.dev
	$(BIN)/pytest -m fast

# The chat page as README shows it, from the trained bot started on free ports.
screenshots: train $(VENV)/.dev $(CHROMIUM) $(EMOJI_FONT)
	PYTHONPATH=tests $(PY) -m helpers.screenshots docs/screenshots

# REPLICAS bot servers behind nginx, on PostgreSQL and Redis (README: Scaling out).
REPLICAS ?= 2
cluster: train $(NGINX)
	$(PY) -m ops.cluster --replicas $(REPLICAS)

bench: train $(VENV)/.dev
	$(PY) -m bench.run

# Intent classifiers compared on the held-out halves (README: Understanding).
compare-classifiers: setup
	$(PY) -m bench.classifiers

# A py-spy flame graph of the Rasa server under 10 users' load, into results/profile.svg
# (PROFILE_SECONDS long; PROFILE_OUTPUT=results/stacks.txt gives the raw stacks and prints
# the share of the event loop by where it is, as in the README).
PROFILE_SECONDS ?= 40
PROFILE_OUTPUT ?= results/profile.svg
profile: train $(VENV)/.dev
	$(PY) -m bench.run --profile $(PROFILE_SECONDS) --profile-output $(PROFILE_OUTPUT)

# Ten minutes at a steady 10 messages a second: errors and memory growth.
soak: train $(VENV)/.dev
	$(PY) -m bench.run --soak 600

# The trainer's loop (docs/training.md); extra options go in ARGS, e.g. ARGS=--update-baseline.
inbox: $(VENV)/.runtime
	$(PY) -m trainer inbox $(ARGS)

evaluate: setup
	$(PY) -m trainer evaluate $(ARGS)

trainer: setup
	$(PY) -m trainer web $(ARGS)

purge: $(VENV)/.runtime
	$(PY) -m ops.retention

clean:
	rm -rf models/spacy models/*.tar.gz reports results tests/output

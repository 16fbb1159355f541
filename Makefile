# evalportal: `make run` serves the demo study; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/evalportal
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv node-deps run migrate demo demo-responses test test-postgres test-sqlite lint system-deps clean bench results screenshots

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# axe-core, which the browser tests load into each rater page, and oidc-provider, the
# OpenID Connect provider of the hospital sign-in tests (package-lock.json pins both).
node-deps: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed: \`make system-deps\` installs Debian's nodejs and npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

migrate: venv
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	$(BIN)/python manage.py runportal

# Chromium drives the browser tests; g++ lets torch.compile build the CPU decode step;
# npm installs axe-core for the accessibility tests. Installed from Debian's packages when missing.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: venv
	$(BIN)/ruff check .

# The whole suite on PostgreSQL (as in production), then again on the SQLite default the
# tests marked `sqlite`: those whose SQL differs by backend (the rule is in pytest.ini).
# pytest-xdist runs TEST_WORKERS processes, each with its own test database, Redis
# database and var/ folder (evalportal/settings/test.py); each takes whole modules, so a
# module's fixtures (the loaded model, a trained adapter, started workers) are built once.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
# One torch thread per test process (the Celery workers the tests start inherit it): the
# test processes already use every core, and threads fighting over them slow each step.
test-postgres test-sqlite screenshots: export OMP_NUM_THREADS = 1
test: venv system-deps node-deps lint test-postgres test-sqlite

test-postgres:
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-sqlite:
	DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 $(BIN)/python -m pytest $(PYTEST_PARALLEL) -q \
	  -m "sqlite and not modeling and not browser and not worker and not postgres"

# The README's "running a study" screenshots and docs/running-a-study.md's "what a clinician
# sees", taken by the browser tests that walk through them.
screenshots: venv system-deps node-deps
	EVALPORTAL_SCREENSHOTS=docs DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest -q \
	  tests/browser/test_running_a_study.py tests/browser/test_rater_walkthrough.py

# Regenerates the demo study's responses (annotations/demo/responses.jsonl) with the demo
# model: writes the generated training cases (python -m modeling.synthetic, seeded),
# generates every hand-written test case with Baseline and Instructed, trains the
# BehaviorSFT and GeneralSFT adapters on the generated train split and generates with
# them, then FewShot (its k=3 examples from the generated training cases). Both trained
# arms get the same hyperparameters, annotations/demo/training.json (which the portal's
# `train_demo_adapters` queues too): one epoch of the 188 generated training cases (47 steps
# of 4) at learning rate 1e-3, enough for the tiny model to lead every response with a
# behavior token. Every arm writes at most 48 new tokens. CPU, 2 cores: each training about
# 5 minutes when the cores are free (over 15 when they are shared), each generation 5-15,
# about an hour in all.
DEMO_TRAINING := annotations/demo/training.json
DEMO_TRAIN_ARGS = $(shell $(BIN)/python -c 'import json; from modeling.params import TrainParams, params_with_defaults; from modeling.train.cli import params_argv; print(*params_argv(params_with_defaults(TrainParams, json.load(open("$(DEMO_TRAINING)")))))')
DEMO_CASES := annotations/demo/cases.jsonl
DEMO_TRAIN := annotations/demo/train_cases.jsonl
DEMO_OUT := annotations/demo/responses.jsonl
DEMO_GEN_ARGS := --base demo --data $(DEMO_CASES) --out $(DEMO_OUT) --max-new-tokens 48
demo-responses: venv
	$(BIN)/python -m modeling.synthetic --seed 0 --out $(DEMO_TRAIN)
	rm -f $(DEMO_OUT)
	$(BIN)/python -m modeling.generate --arm baseline $(DEMO_GEN_ARGS)
	$(BIN)/python -m modeling.generate --arm instructed $(DEMO_GEN_ARGS)
	$(BIN)/python -m modeling.train --arm behavior_sft --base demo --data $(DEMO_TRAIN) --out var/adapters/demo-behavior_sft $(DEMO_TRAIN_ARGS)
	$(BIN)/python -m modeling.generate --arm behavior_sft --adapter var/adapters/demo-behavior_sft $(DEMO_GEN_ARGS)
	$(BIN)/python -m modeling.train --arm general_sft --base demo --data $(DEMO_TRAIN) --out var/adapters/demo-general_sft $(DEMO_TRAIN_ARGS)
	$(BIN)/python -m modeling.generate --arm general_sft --adapter var/adapters/demo-general_sft $(DEMO_GEN_ARGS)
	$(BIN)/python -m modeling.generate --arm fewshot --fewshot-data $(DEMO_TRAIN) $(DEMO_GEN_ARGS)

bench: venv
	$(BIN)/python bench/analysis.py

# bench/RESULTS.md from the figures the benchmarks wrote under bench/results/.
results: venv
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) var/test.sqlite3 var/xdist .pytest_cache

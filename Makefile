# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install the app's runtime set only (requirements.txt: no TensorFlow), start the server
#   make test   also install the training and test sets (and Debian's Chromium), then run ruff and the whole suite
# Without make (macOS, Windows): docs/install.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt

.PHONY: run test test-fast lint train evaluate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt constraints.txt
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-train.txt requirements-dev.txt requirements-production.txt
	$(PIP_INSTALL) -r requirements.txt -r requirements-train.txt -r requirements-dev.txt -r requirements-production.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/python server.py $(ARGS)

test: $(VENV)/.dev
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-services.sh
	bash scripts/ensure-axe.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(ARGS)

# The quick loop: unit and Flask test-client tests, no live servers, no browser, no training (about a minute).
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not slow and not browser" tests/unit tests/app $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .

train: $(VENV)/.dev
	$(BIN)/python -m realtime.training.train $(ARGS)

evaluate: $(VENV)/.dev
	$(BIN)/python -m realtime.training.evaluate $(ARGS)

bench: $(VENV)/.dev
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts build dist *.egg-info

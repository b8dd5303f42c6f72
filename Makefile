# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install the pinned app dependencies, start the server
#   make test   also install test tools (and Debian's Chromium), then run ruff and the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test test-fast lint train evaluate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt constraints.txt
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/python server.py $(ARGS)

test: $(VENV)/.dev
	bash scripts/ensure-chromium.sh
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
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts

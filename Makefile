# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
# Each creates .venv and installs kreg with what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KREG_DATA_DIR ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),)
export KREG_DATA_DIR

.PHONY: install run run-football test test-slow lint format bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

## The main job: L2 and dropout on a VGG-style CIFAR-10 convnet, the quick profile.
run: $(STAMP)
	$(BIN)/python experiments/cifar_l2.py --quick --logdir runs/cifar --json results/cifar.json \
		--curves results/cifar_curves.png \
		--reliability results/cifar_reliability.png --models-dir results/models

## The course's football experiment.
run-football: $(STAMP)
	$(BIN)/python experiments/football.py --logdir runs/football --json results/football.json \
		--plots results/football

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Every benchmark in bench/, each printing its ratios (see docs/benchmarks.md).
bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
# Each creates the virtual environments it needs and installs kreg into them on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KREG_DATA_DIR ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),)
export KREG_DATA_DIR
# The core's suite also runs under JAX, under PyTorch, and on the oldest Keras kreg supports
# (the floor in setup.cfg), each in its own environment with kreg's core install only.
KERAS_FLOOR := 3.12.4
TORCH := torch==2.13.0
CROSS := build/cross-backend

.PHONY: install run run-football test test-tensorflow test-jax test-torch test-floor \
	test-wheel test-slow lint format bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[lab,test,bench,peers]"
	touch $(STAMP)

install: $(STAMP)

.venv-jax/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv .venv-jax
	.venv-jax/bin/python -m pip install --quiet -e . jax pytest
	touch $@

.venv-torch/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv .venv-torch
	.venv-torch/bin/python -m pip install --quiet $(TORCH)
	.venv-torch/bin/python -m pip install --quiet -e . pytest
	touch $@

.venv-floor/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv .venv-floor
	.venv-floor/bin/python -m pip install --quiet $(TORCH)
	.venv-floor/bin/python -m pip install --quiet -e . "keras==$(KERAS_FLOOR)" pytest
	touch $@

## The main job: L2 and dropout on a VGG-style CIFAR-10 convnet, the quick profile.
run: $(STAMP)
	$(BIN)/python experiments/cifar_l2.py --quick --logdir runs/cifar --json results/cifar.json \
		--curves results/cifar_curves.png \
		--reliability results/cifar_reliability.png --models-dir results/models

## The course's football experiment.
run-football: $(STAMP)
	$(BIN)/python experiments/football.py --logdir runs/football --json results/football.json \
		--plots results/football

## Everything CI runs: the core on the floor Keras (PyTorch backend), the full suite on
## TensorFlow, then the core under JAX and PyTorch; each run loads the .keras files that the
## runs before it saved under another backend or an older Keras.
test:
	rm -rf $(CROSS)
	$(MAKE) test-floor test-tensorflow test-jax test-torch

test-tensorflow: $(STAMP)
	KREG_CROSS_BACKEND_DIR=$(CROSS) $(BIN)/python -m pytest -m "not slow" tests

test-jax: .venv-jax/.installed
	KERAS_BACKEND=jax KREG_CROSS_BACKEND_DIR=$(CROSS) .venv-jax/bin/python -m pytest tests/core

test-torch: .venv-torch/.installed
	KERAS_BACKEND=torch KREG_CROSS_BACKEND_DIR=$(CROSS) .venv-torch/bin/python -m pytest tests/core

test-floor: .venv-floor/.installed
	KERAS_BACKEND=torch .venv-floor/bin/python -c \
		"import keras; assert keras.__version__ == '$(KERAS_FLOOR)', keras.__version__"
	KERAS_BACKEND=torch KREG_CROSS_BACKEND_DIR=$(CROSS) .venv-floor/bin/python -m pytest tests/core

## The wheel alone: built, installed into a clean environment with keras and jax only, and
## the README's library example run there (tests/lab/test_wheel.py runs this in the suite).
test-wheel: $(STAMP)
	$(BIN)/python -m pytest -m slow tests/lab/test_wheel.py

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
	rm -rf $(VENV) .venv-jax .venv-torch .venv-floor build dist *.egg-info .pytest_cache \
		.ruff_cache

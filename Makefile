# The README's two commands, `make demo` and `make test`, and the pieces they use.
# Each creates (or reuses) a local virtual environment in $(VENV) and installs
# the project with the pinned versions of requirements/constraints.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
EXTRAS := tensorflow,jax,torch,keras-cv,tfds,tensorboard,export,docs,dev
# Two pytest workers (pytest-xdist): the suite is CPU-bound on one core per
# test, and CI has two. Work stealing keeps both busy to the end.
# PYTEST_WORKERS=0 runs in one process. PYTEST_ARGS go to every pytest run,
# e.g. PYTEST_ARGS="-k segmenter".
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
DEMO_DIR ?= runs/demo

INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-all lint docs figures pytest-all clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	touch $@

## The main job on the built-in synthetic data.
demo: $(INSTALLED)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/keras-srcrm demo --output-dir $(DEMO_DIR) --overwrite

## The whole test suite: lint, docs, and pytest once per backend.
test: lint docs pytest-all

## The same with the slow tests too (`--run-slow`): an XLA-compiled fit on
## every backbone family and the other long variants, about an hour per backend.
test-all:
	$(MAKE) test PYTEST_ARGS="--run-slow $(PYTEST_ARGS)"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Every figure of the docs, redrawn by docs/figures.py; the demo's pictures
## take a demo run (about two minutes).
figures: $(INSTALLED)
	KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python docs/figures.py --demo

## The docs site; the figures that need no training are redrawn first.
docs: $(INSTALLED)
	KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python docs/figures.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

# Each backend runs in its own process; every backend runs even when an
# earlier one fails, and the target fails if any of them failed.
pytest-all: $(INSTALLED)
	@status=0; for backend in $(BACKENDS); do \
	  echo "=== pytest with KERAS_BACKEND=$$backend ==="; \
	  start=$$(date +%s); \
	  KERAS_BACKEND=$$backend TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest \
	    -n $(PYTEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS) || status=1; \
	  echo "=== KERAS_BACKEND=$$backend took $$(( $$(date +%s) - start )) s ==="; \
	done; exit $$status

clean:
	rm -rf $(VENV) site runs .pytest_cache .hypothesis

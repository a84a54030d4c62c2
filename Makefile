# ferzoo: the two Quick start commands are `make demo` and `make test`.
# Both build the virtual environment from the project's own files on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo test lint bench models-md

setup: $(VENV)/.installed

# torch is installed first and pinned: any looser range pulls several GB of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[all]"
	touch $@

# The main job: a small Optuna sweep on the built-in synthetic_faces dataset (CPU, minutes).
demo: setup
	$(PY) sweeps/run.py --study demo

# The tests: every layer and model on TensorFlow, JAX and PyTorch; integration tests on TF.
test: setup
	PY=$(PY) bash scripts/test.sh

# The cheap checks CI runs first: lint, format, function and module sizes.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/check_sizes.py

models-md: setup
	$(VENV)/bin/ferzoo models --profile --format md > results/models.md

# `make run` trains and evaluates; `make test` runs the whole suite, notebook included.
# Both create the virtual environment .venv and install the project into it first, with one Keras backend
# (TensorFlow); `make test-backends` adds JAX and PyTorch to it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BACKENDS_INSTALLED := $(VENV)/.backends-installed
# Empty: MNIST where it can be had (--data, MNIST_CNN_DATA, Keras), else the sample shipped in the package.
DATASET ?=
RECIPE ?= fast
ARGS ?=

.PHONY: venv run test test-backends test-versions bench demo lab notebook notebook-outputs lint format clean

venv: $(INSTALLED)

# uv installs the pinned packages in half pip's time (docs/development.md, "Tests"); pip does where uv cannot.
install = $(BIN)/python -m uv pip install --quiet --python $(BIN)/python --compile-bytecode $(1) || \
	$(BIN)/python -m pip install --quiet $(1)

$(INSTALLED): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(call install,-r requirements.txt)
	$(call install,--no-deps --editable .)
	touch $@

$(BACKENDS_INSTALLED): $(INSTALLED) requirements-backends.txt
	$(BIN)/python -m pip install --quiet -r requirements-backends.txt
	touch $@

run: venv
	$(BIN)/mnist-cnn train $(if $(DATASET),--dataset $(DATASET)) --recipe $(RECIPE) --replace $(ARGS)

# pytest-xdist: two workers, each taking whole files (the notebook's cells run in order in one kernel). On 2 cores
# one process leaves the second core idle much of the time (docs/development.md, "Tests").
WORKERS ?= 2
PYTEST := -m pytest -n $(WORKERS) --dist loadfile

test: venv
	$(BIN)/python $(PYTEST)

# The tests whose behaviour depends on the backend (marked `backend`: training, saving and loading, export, devices,
# precision, the notebook) on the other two Keras backends; make test runs every test on the default, TensorFlow.
OTHER_BACKENDS ?= jax torch
test-backends: $(BACKENDS_INSTALLED)
	set -e; for backend in $(OTHER_BACKENDS); do \
		echo "== KERAS_BACKEND=$$backend"; KERAS_BACKEND=$$backend $(BIN)/python $(PYTEST) -m backend $(ARGS); done

# The tests that depend on the backend or on the versions installed (marked `backend` or `versions`) with another set
# of versions, in .venv-SET on that set's Python: SET=colab (Google Colab's preinstalled versions, .ci/colab.txt,
# Python 3.13) or SET=oldest (pyproject.toml's minimums, Python 3.11).
SET ?= colab
PYTHON_VERSION_colab := 3.13
PYTHON_VERSION_oldest := 3.11
SET_PYTHON = $(firstword $(wildcard /usr/bin/python$(PYTHON_VERSION_$(SET)) \
	$(HOME)/.pyenv/versions/$(PYTHON_VERSION_$(SET))*/bin/python$(PYTHON_VERSION_$(SET))) python$(PYTHON_VERSION_$(SET)))
test-versions:
	test -x .venv-$(SET)/bin/python || $(SET_PYTHON) -m venv .venv-$(SET)
	.venv-$(SET)/bin/python -m pip install --quiet --upgrade pip
	.venv-$(SET)/bin/python -m pip install --quiet --constraint .ci/$(SET).txt --editable '.[tensorflow,demo,export,dev]'
	.venv-$(SET)/bin/python -m pip check
	.venv-$(SET)/bin/python -m pip list --format=freeze | grep -i -E '^(tensorflow|keras|tensorboard|gradio|numpy|protobuf)=='
	PATH=$(CURDIR)/.venv-$(SET)/bin:$$PATH .venv-$(SET)/bin/python $(PYTEST) -m "backend or versions" $(ARGS)

# The demo page for a trained model: make demo MODEL=runs/mnist-fast/model.keras [ARGS="--port 8000"]
MODEL ?= runs/mnist-fast/model.keras
demo: venv
	$(BIN)/mnist-cnn demo $(MODEL) $(ARGS)

bench: $(BACKENDS_INSTALLED)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.run_all $(ARGS)

lab notebook: venv
	$(BIN)/python -m pip install --quiet jupyterlab
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/jupyter lab notebooks/mnist_cnn.ipynb $(ARGS)

# Re-run the notebook in full and store its outputs (DATA=path to an mnist.npz where Keras cannot download it).
notebook-outputs: venv
	$(BIN)/python -m pip install --quiet nbconvert
	cd notebooks && PATH=$(CURDIR)/$(BIN):$$PATH MNIST_CNN_DATA=$(DATA) ../$(BIN)/jupyter nbconvert --to notebook \
		--execute --inplace mnist_cnn.ipynb

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) runs *.egg-info .pytest_cache

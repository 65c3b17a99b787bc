# Two front-door commands: `make pipeline` (set up + dvc repro on the bundled
# sample) and `make test` (set up + the fast tests). Both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed


.PHONY: install lock pipeline test test-slow check lint typecheck report s3-local clean

# Installs the hash-locked requirements.lock (every transitive pin) with uv: the
# uv on PATH, or one installed into the venv from the package index. Without uv:
# `make install INSTALLER=pip` (pip --require-hashes, slower).
# torch==2.13.0+cpu comes from a local wheel folder where the machine has one
# (/opt/wheels), else from PyTorch's CPU index. For CUDA, see README "On a GPU".
UV_VERSION := 0.13.9
INSTALLER ?= uv
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels),--find-links /opt/wheels,--extra-index-url https://download.pytorch.org/whl/cpu)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifeq ($(INSTALLER),pip)
	$(BIN)/pip install --quiet --require-hashes $(TORCH_WHEELS) -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
else
	command -v uv >/dev/null || [ -x $(BIN)/uv ] || $(BIN)/pip install --quiet uv==$(UV_VERSION)
	$$(command -v uv || echo $(BIN)/uv) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes $(TORCH_WHEELS) requirements.lock
	$$(command -v uv || echo $(BIN)/uv) pip install --quiet --python $(BIN)/python --no-deps -e .
endif
	touch $(STAMP)

# Re-resolve requirements.lock after editing requirements*.txt (needs the package index).
lock:
	$$(command -v uv || echo $(BIN)/uv) pip compile requirements-dev.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 $(TORCH_WHEELS) --quiet -o requirements.lock

install: $(STAMP)

# dvc repro, then the plots page and the results table with the paired verdicts, in words
pipeline: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc plots show -q -o dvc_plots
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/streamguard summary
	@echo "Plots (ROC, PR, calibration, confusion, training curves): $(CURDIR)/dvc_plots/index.html"

# the fast tests (every test not marked slow); test-slow runs the rest, .ci/run both
test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -m "not slow"

test-slow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -m slow

# lint (ruff: rules and format) and type check (mypy); .ci/run runs these before the tests
check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# the PR report as Markdown on stdout, its plots as PNG in report_plots/ (scripts/report.sh):
# make report [BASE=main] [TARGET=workspace] > report.md
report: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/report.sh $(or $(BASE),main) $(or $(TARGET),workspace)

# the README's S3 walk-through against a local S3 server (moto, 127.0.0.1), in a temporary folder:
# make s3-local [STAGE=preprocess] [S3_LOCAL_KEEP=1]
s3-local: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/s3-local.sh

clean:
	rm -rf $(VENV) checkpoints

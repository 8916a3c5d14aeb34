# Two commands do all the set-up: `make demo` (the article, on CPU) and `make test` (the gates,
# then every test). Each creates .venv when it is missing. `make test-fast` runs the tests but
# those marked slow; `make lint` runs the gates alone; `make docs` builds the site into ./site.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.grunet-installed
DEV     := $(VENV)/.grunet-dev-installed
DOCS    := $(VENV)/.grunet-docs-installed

.PHONY: demo test test-fast lint docs bench install clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/grunet warmup  # compiles the demo's numba kernels once (20-40 s) into their disk cache
	touch $(STAMP)

# The gates' and the site's tools are extras ("dev", "docs"), installed on first use.
$(DEV): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(DEV)

$(DOCS): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[docs]"
	touch $(DOCS)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/grunet demo --out grunet-demo --force

# The gates first (ruff, mypy, import-linter's contracts), then every test.
test: lint
	$(BIN)/python -m pytest -q

# Everything but the tests marked @pytest.mark.slow (CI runs those: `make test`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(DOCS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict  # (the variable silences a theme notice)

bench: $(STAMP)
	$(BIN)/grunet bench --device cpu

clean:
	rm -rf $(VENV) grunet-demo site

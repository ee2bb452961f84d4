# Two commands on a fresh machine (Python 3.11, nothing else needed):
#   make run    set up a virtualenv and run the default sweep (search_spaces/quickstart.yaml)
#   make test   set up the same virtualenv and run the test suite
PYTHON ?= python3
VENV ?= .venv
SPEC ?= search_spaces/quickstart.yaml
BIN := $(VENV)/bin

.PHONY: run test unit setup clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/sweep run $(SPEC)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -ra

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) results .pytest_cache

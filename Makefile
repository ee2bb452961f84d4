# Two commands on a fresh machine (Python 3.11, nothing else needed):
#   make run    set up a virtualenv and run the default sweep (search_spaces/quickstart.yaml)
#   make test   set up the same virtualenv and run the test suite
PYTHON ?= python3
VENV ?= .venv
SPEC ?= search_spaces/quickstart.yaml
BIN := $(VENV)/bin

.PHONY: run test unit setup clean

# uv resolves and installs the same versions as pip in a fraction of the time (benchmarks/install.md);
# where uv cannot be had, pip does it.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(BIN)/python -m pip install --quiet uv \
	  && $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test]' ) \
	|| { echo "uv could not install the project; installing with pip"; \
	     $(BIN)/python -m pip install --quiet -e '.[test]'; }
	touch $@

setup: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/sweep run $(SPEC)

# The unit tests (no Ray, no TensorFlow; many start the CLI as a process) on every core; the
# integration tests in one process, around the one Ray they share.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -ra -n auto tests/unit
	$(BIN)/python -m pytest -q -ra --durations=25 tests/integration

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n auto tests/unit

clean:
	rm -rf $(VENV) results .pytest_cache

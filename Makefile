# The two set-up commands of the README: `make simulate` (the main job on embedded defaults)
# and `make test` (ruff, mypy, then the test suite; .ci/run calls it). Both create .venv on first use.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: simulate test test-fast lint

$(BIN)/cleanup-manager: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

simulate: $(BIN)/cleanup-manager
	$(BIN)/cleanup-manager simulate

test: lint
	bash scripts/test-services.sh
	$(BIN)/python -m pytest

# The unit layer only (about 10 s): no services needed.
test-fast: $(BIN)/cleanup-manager
	$(BIN)/python -m pytest tests/unit

lint: $(BIN)/cleanup-manager
	$(BIN)/ruff check .
	$(BIN)/mypy actors domain gateways runtime cli config simulation tui supervisor.py

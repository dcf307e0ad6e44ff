# The two commands everyone uses: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: migrate the database, add demo data when it is empty, serve the app on $(PORT)
##      with the collector worker beside it; Ctrl-C stops both
run: $(VENV)/.runtime
	$(BIN)/python cli.py init-db
	$(BIN)/python cli.py demo --if-empty
	@echo "Flightdeck is starting: open http://localhost:$(PORT) (Ctrl-C stops it)"
	@$(BIN)/python cli.py worker --if-configured & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

## test: lint, type-check and run the whole test suite (SQLite and PostgreSQL)
test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest

## bench: the benchmarks of bench/ (prints a table; see README "Performance")
bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

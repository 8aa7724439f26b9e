# The two quick-start commands; each creates its own virtual environment (scripts/bootstrap.sh).
.PHONY: demo test lint bootstrap
VENV ?= .venv

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/capturerig demo $(ARGS)

test: bootstrap
	$(VENV)/bin/python -m ruff check src simulators tests bench
	$(VENV)/bin/python -m mypy
	$(VENV)/bin/python -m pytest -q -n auto --durations=25 $(ARGS)

lint: bootstrap
	$(VENV)/bin/python -m ruff check src simulators tests bench
	$(VENV)/bin/python -m mypy

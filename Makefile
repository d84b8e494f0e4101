# Two commands matter: `make run` (a working dashboard on the sandbox) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
WORKERS ?= 2
THREADS ?= 8

.PHONY: run dev test bench lint python-check clean-venv

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null || { \
	  echo "This project needs Python 3.12 or newer (Django 6); '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
	  echo "Install Python 3.13 (see .python-version) or run: make PYTHON=/path/to/python3.13 run"; \
	  exit 1; }

$(VENV)/bin/python: | python-check
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change, so a second `make run` starts in seconds.
$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed-run

# The web server and, beside it, the worker that runs exports and bulk jobs (Django tasks); Ctrl+C stops both.
run: python-check $(VENV)/.installed-run
	$(PY) manage.py prepare_dashboard
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	$(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	$(VENV)/bin/gunicorn dashboard.wsgi --bind 127.0.0.1:$(PORT) --worker-class gthread \
	  --workers $(WORKERS) --threads $(THREADS) --access-logfile - --graceful-timeout 5

dev: python-check $(VENV)/.installed-run
	$(PY) manage.py prepare_dashboard
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	DJANGO_DEBUG=true $(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	DJANGO_DEBUG=true $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: python-check $(VENV)/.installed-test
	$(VENV)/bin/pytest

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: python-check $(VENV)/.installed-test
	$(PY) -m tests.bench

clean-venv:
	rm -rf $(VENV)

# chatpoints: `make run` serves the portal with demo data, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# `make run HOST=0.0.0.0 PORT=8001`: where runserver listens (add ALLOWED_HOSTS=<name> to reach
# it under another name than 127.0.0.1 or localhost). The addresses printed use URL_HOST.
HOST   ?= 127.0.0.1
PORT   ?= 8000
URL_HOST = $(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST))

.PHONY: run test install browser lint format messages check-deploy bench bench-ingest bench-report clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# A local .env for development: DEBUG on and a random secret key, made once.
.env:
	printf 'DEBUG=1\nSECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@

run: install .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py load_demo --url http://$(URL_HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser test drives Debian's chromium (never a browser download): installed if missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends chromium; }; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Needs GNU gettext: extract the strings, then compile. The compiled .mo files are committed,
# so running the portal needs no gettext.
messages: install
	$(BIN)/python manage.py makemessages --locale fr --locale en --ignore '.venv/*' --ignore 'var/*' --no-obsolete
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

bench: install
	$(BIN)/python bench/statement.py

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-report: install
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis

# One set of entry points for people and CI. `make run` and `make test` install what they need first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots install system-deps clean

run: install
	$(BIN)/widget-server serve

test: install system-deps
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check widget_server tests bench
	$(BIN)/mypy

# docs/screenshots/*.png (docs/gallery.md): every state of the visitor's call, desktop and phone, each checked by axe-core.
screenshots: install system-deps
	$(BIN)/pytest -q tests/browser -k "gallery or launcher_call_events or mobile_viewport or prebuilt_frame"

bench: install system-deps
	@command -v wrk >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	$(BIN)/python -m bench

install: $(STAMP) node_modules/.package-lock.json static/embed.js

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The loader host pages load: a build output (git-ignored), minified by esbuild from its readable source and styles.
# npm ci rewrites node_modules/.package-lock.json, so a change to the build script in package.json rebuilds it too.
static/embed.js: static/loader/embed.js static/loader/embed.css static/loader/build.mjs node_modules/.package-lock.json
	npm run --silent build

# Chromium (browser tests) and redis-server (Redis store tests) from Debian's packages.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache static/embed.js

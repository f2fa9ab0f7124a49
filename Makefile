# One set of entry points for people and CI. `make run` and `make test` install what they need first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what serving needs; the test extras (browsers, linters) come with `install`.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
WHEELHOUSE := .cache/wheels

.PHONY: run examples test lint bench screenshots install runtime dist image image-deps localbase system-deps clean

run: runtime
	$(BIN)/widget-server serve $(if $(CONFIG),--config $(CONFIG))

# embed_examples/ on http://127.0.0.1:8080, against `make run CONFIG=embed_examples/local.toml` (no hand edits).
examples:
	python3 embed_examples/serve.py

test: install system-deps image-deps
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check widget_server tests bench
	$(BIN)/mypy

# docs/screenshots/*.png (docs/gallery.md): every state of the visitor's call, desktop and phone, light and dark,
# Spanish and Arabic, each checked by axe-core; the chroma key's edges.
screenshots: install system-deps
	$(BIN)/pytest -q tests/browser -k "gallery or launcher_call_events or mobile_viewport or prebuilt_frame or chroma_key or inline_widget"

bench: install system-deps
	@command -v wrk >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	$(BIN)/python -m bench

install: runtime $(TEST_STAMP)

runtime: $(RUNTIME_STAMP) node_modules/.package-lock.json static/embed.js

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The sdist and the wheel, each with the static files, templates, the built loader and daily-js inside
# (setup.py copies them in; see docs/deploy.md). No build isolation: the tested setuptools builds what ships.
# Timestamps from the last commit, so an unchanged tree gives the same wheel (and image builds hit their cache).
dist: install
	rm -rf dist
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) $(BIN)/python -m build --no-isolation --outdir dist .

# The image (Dockerfile) from the wheel and a wheelhouse of its dependencies, so the build needs no index. Here no
# registry is reachable: the base is made from Debian's packages (mmdebstrap, cached in .cache/) and podman runs
# with the flags these machines need (docs/deploy.md). Elsewhere: `make dist && docker build -t widget-server .`
IMAGE ?= widget-server:latest
BASE_IMAGE := localbase:bookworm
BASE_TAR := .cache/localbase-bookworm.tar
PODMAN := podman --runtime runc --cgroup-manager cgroupfs
image: dist localbase $(WHEELHOUSE)/.done
	# From the wheelhouse only: what needs the network was fetched by `make image-deps` (an install step), so
	# the image test reaches nothing but loopback.
	$(BIN)/python -m pip wheel -q --no-index --find-links $(WHEELHOUSE) --wheel-dir dist/wheels \
	  dist/widget_server-*.whl 'async-timeout>=4.0.3'
	rm -f dist/wheels/widget_server-*.whl
	$(PODMAN) build --isolation chroot --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --format docker \
	  --build-arg BASE=$(BASE_IMAGE) --build-arg VERSION=$$($(BIN)/python -c 'from widget_server.version import package_version as v; print(v())') \
	  --build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) -t $(IMAGE) .
	# Earlier builds, untagged by this one, and the first stage: the disk stays bounded, run after run.
	$(PODMAN) image prune --force >/dev/null

# What the image build fetches from the network, fetched up front (by `make test` too): the Debian base and the
# wheels of the dependencies. Nothing to do where podman or mmdebstrap is missing (the image test says why it skips).
image-deps: install
	@if command -v mmdebstrap >/dev/null && command -v podman >/dev/null; then \
	  $(MAKE) -s $(BASE_TAR) $(WHEELHOUSE)/.done; fi

$(WHEELHOUSE)/.done: pyproject.toml
	mkdir -p $(WHEELHOUSE)
	# redis needs async-timeout on Python < 3.11.3 (bookworm has 3.11.2); this venv's Python may be newer.
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
	  > $(WHEELHOUSE)/requirements.txt
	$(BIN)/python -m pip wheel -q --wheel-dir $(WHEELHOUSE) -r $(WHEELHOUSE)/requirements.txt 'async-timeout>=4.0.3'
	touch $@

localbase: $(BASE_TAR)
	$(PODMAN) image exists $(BASE_IMAGE) || $(PODMAN) import $(BASE_TAR) $(BASE_IMAGE)

$(BASE_TAR):
	mkdir -p .cache
	mmdebstrap --quiet --variant=minbase --include=python3,python3-venv \
	  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	  --dpkgopt='path-exclude=/usr/share/locale/*' --format=tar bookworm $@.part
	mv $@.part $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The loader host pages load: a build output (git-ignored), minified by esbuild from its readable source and styles.
# npm ci rewrites node_modules/.package-lock.json, so a change to the build script in package.json rebuilds it too.
static/embed.js: static/loader/embed.js static/loader/build.mjs node_modules/.package-lock.json
	npm run --silent build

# Chromium (browser tests), redis-server (Redis store tests), PostgreSQL (history tests: the tests start a
# private cluster with its initdb/pg_ctl), and podman, runc and mmdebstrap (the image test: docs/deploy.md)
# from Debian's packages.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v podman >/dev/null || missing="$$missing podman"; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	command -v mmdebstrap >/dev/null || missing="$$missing mmdebstrap"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache static/embed.js build dist widget_server/_assets

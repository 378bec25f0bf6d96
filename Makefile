# The two commands of the README: `make run` starts Guanxi, `make test` runs the whole suite.
.PHONY: run test demo install system-deps services

install: system-deps
	@command -v uv >/dev/null || python3 -m pip install -q uv
	uv sync --frozen
	# Front-end assets (htmx, ECharts) from the npm registry, pinned by package-lock.json, into static/vendor/.
	npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor
	cd src/guanxi && uv run guanxi compilemessages -v0

# What the suite needs from the system: npm (front-end assets), gettext (compilemessages), Chromium (browser tests), Redis (broker
# tests). Installed with apt-get when run as root; otherwise one line says how, and the tests that need a
# missing one are skipped with that reason.
SYSTEM_PACKAGES = npm:npm msgfmt:gettext /usr/bin/chromium:chromium redis-server:redis-server

system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  if [ -x "$$cmd" ] || command -v "$$cmd" >/dev/null 2>&1; then :; else missing="$$missing $$pkg"; fi; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing$$missing (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq$$missing </dev/null; \
	else \
	  echo "Missing$$missing: install with 'sudo apt-get install -y$$missing' (tests that need them are skipped until then)"; \
	fi

# Redis for the broker tests, started here if it is installed and not running (as .ci/run does).
services:
	@if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null; \
	  for _ in 1 2 3 4 5 6 7 8 9 10; do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done; \
	fi

run: install
	uv run guanxi serve --demo

test: install services
	uv run pytest -p no:randomly -q $(PYTEST_ARGS)

# The two commands of the README: `make run` starts Guanxi, `make test` runs the whole suite.
.PHONY: run test demo install

install:
	@command -v uv >/dev/null || python3 -m pip install -q uv
	uv sync --frozen
	# Front-end assets (htmx, ECharts) from the npm registry, pinned by package-lock.json, into static/vendor/.
	npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor
	cd src/guanxi && uv run guanxi compilemessages -v0

run: install
	uv run guanxi serve --demo

test: install
	uv run pytest -p no:randomly -q $(PYTEST_ARGS)

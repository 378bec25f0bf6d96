"""The benchmark suite at its tiny size, so that bench/ never rots (PostgreSQL pass only).

The suite runs in a subprocess: it configures Django against its own database
(``guanxi_bench_smoke_<suffix>``), which this process, set up for the test database, cannot be.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[4] / "bench"
# Every figure the suite reports; the workspace pages join once those pages exist.
FIGURES = {
    "lookup_phone_api",
    "lookup_last4_api",
    "lookup_last4_api_staff",
    "list_first_api",
    "list_filtered_api",
    "list_deep_api",
    "search_name_api",
    "search_name2_api",
    "customer_360_api",
    "lookup_phone_http",
    "lookup_last4_http",
    "import_csv",
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.postgres
def test_generator_and_every_benchmark_run_at_tiny_size(tmp_path):
    from django.conf import settings

    db = settings.DATABASES["default"]
    server = (
        f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST']}:{db['PORT']}/postgres"
    )
    suffix = os.environ.get("GUANXI_TEST_DB_SUFFIX", "") + os.environ.get("PYTEST_XDIST_WORKER", "")
    database = f"guanxi_bench_smoke{'_' + suffix if suffix else ''}"
    env = {
        **os.environ,
        "GUANXI_BENCH_SERVER": server,
        "GUANXI_BENCH_WORK": str(tmp_path / "work"),
        "GUANXI_BENCH_FORCE": "1",  # regenerate: the smoke test checks the generator too
        "GUANXI_BENCH_EXTERNAL": "check",  # other capabilities' benchmarks: imported, not run (time limit)
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = tmp_path / "RESULTS.md"
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / "run.py"), "--size", "tiny", "--database", database, "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=420,  # the tiny dataset takes minutes on a loaded two-core host
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finally:
        import psycopg

        with psycopg.connect(server.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    results = json.loads(out.with_suffix(".json").read_text())
    figures = {f["key"]: f for f in results["figures"]}
    assert FIGURES <= set(figures), FIGURES - set(figures)
    for key, f in figures.items():
        assert f["guanxi"]["median_ms"] > 0, key
        assert f["floor"]["median_ms"] > 0, key
        assert f["ratio"] == pytest.approx(f["guanxi"]["median_ms"] / f["floor"]["median_ms"]), key
    generation = results["dataset"]["generation"]
    assert results["dataset"]["generated_now"]
    assert generation["total_s"] > 0
    assert results["dataset"]["verify"]["bad_aggregates"] == 0
    assert results["dataset"]["verify"]["orphans"] == 0
    assert results["rows"]["customers"] == 2000
    assert results["rows"]["orders"] == 20000
    imported = figures["import_csv"]["counts"]
    shape = figures["import_csv"]["shape"]
    assert imported["rejected"] == shape["bad"]
    assert imported["created"] + imported["matched"] + imported["rejected"] == shape["rows"]
    assert set(results["external"]) == {
        "bench_checkout",
        "bench_messaging",
        "bench_analytics",
        "bench_counter",
        "bench_campaign_results",
        "bench_care",
    }
    text = out.read_text()
    for heading in ("# Guanxi benchmark results", "## Over HTTP", "## Import", "## What each ratio means"):
        assert heading in text
    assert _load("common").SIZES["full"][:2] == (1_000_000, 10_000_000)

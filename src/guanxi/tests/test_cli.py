"""The README's first command: `guanxi serve` brings up web, worker and beat on a fresh directory."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command

from guanxi.customers.models import Customer
from guanxi.sales.models import Order


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(tmp_path, port: int, *options: str) -> subprocess.Popen:
    """`guanxi serve` on a fresh SQLite directory, in its own process group (so that nothing outlives the test)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")
    }
    env["GUANXI_VAR_DIR"] = str(tmp_path)
    env.pop("GUANXI_WEB_WORKERS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "serve", "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_until_up(url: str) -> None:
    deadline, status = time.monotonic() + 120, None
    while time.monotonic() < deadline and status != 200:
        try:
            status = urllib.request.urlopen(url, timeout=2).status  # noqa: S310
        except OSError:
            time.sleep(0.5)
    assert status == 200


def _group(pgid: int) -> dict[int, int]:
    """Live processes of a process group: pid -> parent pid (Linux /proc)."""
    members = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members[int(stat.parent.name)] = int(fields[1])
    return members


def _stop(proc: subprocess.Popen) -> str:
    """SIGTERM to `guanxi serve` alone, as a service manager sends it: it stops the processes it started."""
    try:
        started = {pid for pid, parent in _group(proc.pid).items() if parent == proc.pid}
        assert started, "guanxi serve started no processes"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
        assert not started & set(_group(proc.pid)), "processes outlived guanxi serve"
        return output
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def test_serve_starts_web_worker_and_beat_on_a_fresh_directory(tmp_path):
    port = _free_port()
    proc = _serve(tmp_path, port)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/login/")
        assert (tmp_path / "guanxi.sqlite3").exists()
        deadline = time.monotonic() + 90  # three processes start Django at once; a shared CI host is slow
        while time.monotonic() < deadline and not (tmp_path / "celery-broker.sqlite3").exists():
            time.sleep(0.5)
        assert (tmp_path / "celery-broker.sqlite3").exists(), "the embedded worker never connected to its broker"
    finally:
        output = _stop(proc)
    assert "Guanxi is serving" in output
    assert proc.returncode == 0, output[-3000:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts processes through /proc")
def test_serve_answers_from_several_web_processes(tmp_path):
    port = _free_port()
    proc = _serve(tmp_path, port, "--workers", "3", "--threads", "2", "--no-worker", "--access-log")
    try:
        url = f"http://127.0.0.1:{port}/login/"
        _wait_until_up(url)
        # gunicorn forks its workers one after another: the first answers while a loaded host is still forking the rest
        deadline, web = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            web = [pid for pid, parent in _group(proc.pid).items() if parent == proc.pid]
            if len(web) >= 3:
                break
            time.sleep(0.2)
        assert len(web) == 3, web  # --no-worker: every child of serve is a web process

        def get(_):
            return urllib.request.urlopen(url, timeout=30).status  # noqa: S310

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(get, range(60)))
        assert statuses == [200] * 60
    finally:
        output = _stop(proc)
    served_by = set(re.findall(r'"GET /login/ HTTP/1.1" 200 .* pid=<(\d+)>', output))
    assert len(served_by) >= 2, output[-3000:]
    assert served_by <= {str(pid) for pid in web}
    assert "3 web processes" in output


@pytest.mark.django_db
def test_demo_loads_a_believable_business():
    call_command("demo", customers=300, orders=3000, verbosity=0)
    assert Customer.objects.count() == 300
    # the orders asked for, plus what the demo campaigns' recipients bought in the weeks after them
    assert Order.objects.exclude(external_ref__startswith="CMP-").count() == 3000
    from guanxi.campaigns.models import Campaign, CampaignRun

    assert Campaign.objects.filter(status=Campaign.Status.COMPLETED).count() == 2
    assert Campaign.objects.filter(status=Campaign.Status.PENDING).count() == 1
    assert CampaignRun.objects.filter(recipients__gt=0).count() == 2
    assert Customer.objects.filter(order_count__gt=0).count() > 200
    months = {o.ordered_at.month for o in Order.objects.only("ordered_at")}
    assert len(months) == 12
    call_command("demo", if_empty=True, verbosity=0)
    assert Customer.objects.count() == 300


@pytest.mark.django_db
def test_cli_import_and_export_round_trip(tmp_path, admin_user, store_a):
    source = tmp_path / "in.csv"
    source.write_text("姓名,手机,门店\n林一,13700001111,store-a\n错号,123,store-a\n", encoding="utf-8")
    call_command("import_data", "customers", str(source), verbosity=0)
    assert list(Customer.objects.values_list("name", flat=True)) == ["林一"]
    target = tmp_path / "out.csv"
    call_command("export_data", "customers", str(target), verbosity=0)
    text = target.read_text(encoding="utf-8-sig")
    assert "林一" in text
    assert "+8613700001111" in text

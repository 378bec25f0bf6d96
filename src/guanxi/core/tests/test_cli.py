"""The README's first command: `guanxi serve` brings up web, worker and beat on a fresh directory."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import call_command

from guanxi.customers.models import Customer
from guanxi.sales.models import Order


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_starts_web_worker_and_beat_on_a_fresh_directory(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")
    }
    env["GUANXI_VAR_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and status != 200:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).status  # noqa: S310
            except OSError:
                time.sleep(0.5)
        assert status == 200
        assert (tmp_path / "guanxi.sqlite3").exists()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (tmp_path / "celery-broker.sqlite3").exists():
            time.sleep(0.5)
        assert (tmp_path / "celery-broker.sqlite3").exists(), "the embedded worker never connected to its broker"
    finally:
        os.killpg(proc.pid, 15)
        output = proc.communicate(timeout=30)[0]
    assert "Guanxi is serving" in output


@pytest.mark.django_db
def test_demo_loads_a_believable_business():
    call_command("demo", customers=300, orders=3000, verbosity=0)
    assert Customer.objects.count() == 300 and Order.objects.count() == 3000
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
    assert "林一" in text and "+8613700001111" in text

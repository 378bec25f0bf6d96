"""The outbox delivers each event to a subscriber exactly once, through a real Celery worker.

Shown once with the embedded SQLite broker and once with Redis; the worker is a separate process
reading the same test database, as in production.
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from guanxi.celery_app import app
from guanxi.core.models import Event, EventDelivery
from guanxi.customers.models import TimelineEntry
from guanxi.customers.services import note_add
from guanxi.customers.tests.factories import make_customer

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"


@contextmanager
def producer_on(broker_url: str):
    """Point this process's Celery producer at a real broker (tests are eager by default)."""
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.update(broker_url=saved[0], task_always_eager=saved[1])
        app._pool = None
        app.amqp._producer_pool = None


@contextmanager
def worker_on(broker_url: str, tmp_path: Path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "guanxi.settings.base",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "GUANXI_VAR_DIR": str(tmp_path),
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "guanxi.celery_app",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--include",
            "guanxi.core.tests.subscribers",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_for(predicate, seconds: float = 40) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _exactly_once_through(broker_url: str, tmp_path: Path) -> None:
    from guanxi.core.tasks import dispatch_event
    from guanxi.core.tests import subscribers  # noqa: F401 - registers the subscriber here as well

    customer = make_customer(name="送达测试")
    with producer_on(broker_url), worker_on(broker_url, tmp_path):
        note = note_add(actor=None, customer=customer, body="请在周五前回电")
        event = Event.objects.get(name="note.added", aggregate_id=str(note.pk))
        delivered = _wait_for(lambda: TimelineEntry.objects.filter(customer=customer, kind="test.delivered").exists())
        assert delivered, (tmp_path / "worker.log").read_text()[-3000:]
        dispatch_event.delay(event.pk)  # a redelivery, as after a broker restart, changes nothing
        dispatch_event.delay(event.pk)
        assert _wait_for(lambda: Event.objects.filter(pk=event.pk, dispatched_at__isnull=False).exists())
        time.sleep(1.5)
    assert TimelineEntry.objects.filter(customer=customer, kind="test.delivered").count() == 1
    assert EventDelivery.objects.filter(event=event, subscriber="tests.trace").count() == 1


def test_outbox_delivers_once_with_the_embedded_sqlite_broker(tmp_path):
    _exactly_once_through(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", tmp_path)


def test_outbox_delivers_once_with_redis(tmp_path):
    from guanxi.core.tests.services import redis_or_skip

    redis_or_skip("redis://127.0.0.1:6379/15")
    _exactly_once_through("redis://127.0.0.1:6379/15", tmp_path)

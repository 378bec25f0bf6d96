"""A real Celery worker beside the test process: the producer pointed at a broker, and the worker process."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from guanxi.celery_app import app


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
def worker_on(broker_url: str, tmp_path: Path, include: tuple[str, ...] = ()):
    """A Celery worker process on ``broker_url`` reading the test database; ``include``: more modules to load."""
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
            *(arg for module in include for arg in ("--include", module)),
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

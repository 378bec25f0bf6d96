"""The ``guanxi`` command: everyday jobs by name, and every Django management command besides.

guanxi serve [--demo] [--port 8000]   web server + Celery worker + beat, migrations applied
guanxi worker                          a Celery worker (with beat unless --no-beat)
guanxi demo                            load the demo business
guanxi import customers FILE           import (dry run first with --dry-run)
guanxi export customers FILE           export visible customers to CSV or XLSX
guanxi <django command> ...            e.g. guanxi createsuperuser, guanxi migrate
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _django(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi", *argv])


def _serve(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="guanxi serve", description="Run Guanxi: web, worker and beat together.")
    parser.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--demo", action="store_true", help="load the demo business first (once)")
    parser.add_argument("--no-worker", action="store_true", help="run background work in a separate `guanxi worker`")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)

    _django(["migrate", "--noinput", "-v", "0"])
    from django.conf import settings

    if not settings.DEBUG:
        _django(["collectstatic", "--noinput", "-v", "0"])
    if args.demo:
        _django(["demo", "--if-empty"])
    children: list[subprocess.Popen] = []
    if not args.no_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "guanxi.cli", "worker"]))  # noqa: S603
    url = f"http://{args.host}:{args.port}"
    print(f"Guanxi is serving {url}  (Ctrl-C stops web, worker and beat)", flush=True)

    def stop(*_args):
        for child in children:
            child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        from waitress import serve

        from guanxi.wsgi import application

        serve(application, host=args.host, port=args.port, threads=args.threads, ident="guanxi")
    except KeyboardInterrupt:
        pass
    stop()
    return 0


def _worker(argv: list[str]) -> int:
    from guanxi.celery_app import app

    beat = "--no-beat" not in argv
    rest = [a for a in argv if a != "--no-beat"]
    concurrency = os.environ.get("GUANXI_WORKER_CONCURRENCY", "2")
    worker_argv = ["worker", "--loglevel", os.environ.get("CELERY_LOG_LEVEL", "INFO"), "--concurrency", concurrency]
    if beat:
        worker_argv.append("--beat")
    app.worker_main([*worker_argv, *rest])
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings.base")
    import django

    django.setup()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "serve":
        return _serve(rest)
    if command == "worker":
        return _worker(rest)
    if command in ("import", "export"):
        _django([f"{command}_data", *rest])
        return 0
    _django(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``guanxi`` command: everyday jobs by name, and every Django management command besides.

guanxi serve [--demo] [--port 8000]   web processes + Celery workers + beat, supervised, migrations applied
guanxi worker                          a Celery worker (with beat unless --no-beat)
guanxi beat                            the Celery scheduler on its own
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
import threading
import time
from dataclasses import dataclass, field


def _django(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi", *argv])


def _default_web_workers() -> int:
    """One web process per core this process may run on (``GUANXI_WEB_WORKERS`` overrides)."""
    if os.environ.get("GUANXI_WEB_WORKERS"):
        return max(1, int(os.environ["GUANXI_WEB_WORKERS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _serve(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="guanxi serve", description="Run Guanxi: web, worker and beat together.")
    parser.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--demo", action="store_true", help="load the demo business first (once)")
    parser.add_argument("--no-worker", action="store_true", help="run background work in a separate `guanxi worker`")
    parser.add_argument(
        "--workers",
        type=int,
        default=_default_web_workers(),
        help="web processes (default: one per CPU core, or GUANXI_WEB_WORKERS)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("GUANXI_WEB_THREADS", "4")),
        help="threads per web process (default 4, or GUANXI_WEB_THREADS)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (with the serving process id)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")

    _django(["migrate", "--noinput", "-v", "0"])
    from django.conf import settings

    if not settings.DEBUG:
        _django(["collectstatic", "--noinput", "-v", "0"])
    if args.demo:
        _django(["demo", "--if-empty"])
    from django.db import connections

    connections.close_all()  # the web processes are forked from this one: they must not share its connections
    supervisor = Supervisor([] if args.no_worker else background_processes())
    supervisor.start()
    master = os.getpid()

    url = f"http://{args.host}:{args.port}"
    try:
        if _gunicorn_available():
            print(
                f"Guanxi is serving {url}  ({args.workers} web processes × {args.threads} threads; "
                "Ctrl-C stops web, worker and beat)",
                flush=True,
            )
            _run_gunicorn(args)
        else:
            print(f"Guanxi is serving {url}  (one web process; Ctrl-C stops web, worker and beat)", flush=True)
            _run_waitress(args)
    except KeyboardInterrupt:
        pass
    finally:
        # gunicorn forks its workers from inside this call: a worker leaving it runs this block too,
        # and only the process that started the children may stop them.
        if os.getpid() == master:
            supervisor.stop()
    return 0


#: gunicorn's access-log line: method, path and protocol but never the query string (``%(r)s``/``%(q)s``)
#: or the referrer, which carry searches for phone numbers and e-mail addresses.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms pid=%(p)s'


def background_processes() -> list[Child]:
    """What ``guanxi serve`` runs beside the web: a worker for short tasks, one for long jobs, and beat.

    Long jobs (imports, the analytics refresh, the nightly loyalty runs; ``CELERY_TASK_ROUTES``) have their own
    queue and worker, so that an hour-long import never keeps an order's events waiting. Beat is a process of
    its own, so that its death is seen and it is restarted instead of scheduling stopping silently.
    """
    from django.conf import settings

    me = [sys.executable, "-m", "guanxi.cli"]
    short = os.environ.get("GUANXI_WORKER_CONCURRENCY", "2")
    long_ = os.environ.get("GUANXI_LONG_WORKER_CONCURRENCY", "1")
    default_queue, long_queue = settings.CELERY_TASK_DEFAULT_QUEUE, settings.GUANXI_LONG_QUEUE
    return [
        Child("worker", [*me, "worker", "--no-beat", "-Q", default_queue, "-n", "short@%h", "--concurrency", short]),
        Child(
            "long-job worker", [*me, "worker", "--no-beat", "-Q", long_queue, "-n", "long@%h", "--concurrency", long_]
        ),
        Child("beat", [*me, "beat"]),
    ]


def _say(message: str) -> None:
    # os.write, not print: the web processes are forked from this process while the supervising thread runs,
    # and a fork must never inherit a held Python stream lock.
    os.write(2, f"guanxi serve: {message}\n".encode())


@dataclass
class Child:
    """A process ``guanxi serve`` keeps running: restarted with back-off whenever it ends by itself."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = 1.0
    restarts: int = field(default=0)

    def spawn(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(self.argv)  # noqa: S603 — our own interpreter and module
        self.started_at = time.monotonic()
        self.restart_at = None
        return self.proc


class Supervisor:
    """Starts the background processes and restarts any that dies, 1 s, 2 s, 4 s … 30 s later.

    The back-off resets once a process has stayed up for a minute. Every death and restart is a log line
    (on stderr), so a killed worker or scheduler is both visible and short-lived. ``stop`` ends them all.
    """

    MAX_BACKOFF = 30.0
    HEALTHY_AFTER = 60.0

    def __init__(self, children: list[Child], poll_interval: float = 0.5):
        self.children = children
        self.poll_interval = poll_interval
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="guanxi-supervisor", daemon=True)

    def start(self) -> None:
        with self._lock:
            for child in self.children:
                child.spawn()
        if self.children:
            self._thread.start()

    def check(self) -> None:
        """One round: note the children that ended, restart those whose back-off is over."""
        now = time.monotonic()
        with self._lock:
            if self._stopping.is_set():
                return
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        proc = child.spawn()
                        child.restarts += 1
                        _say(f"restarted the {child.name} (pid {proc.pid}, restart {child.restarts})")
                    continue
                if child.proc is None:  # start() spawns every child before the first check
                    continue
                proc = child.proc
                code = proc.poll()
                if code is None:
                    continue
                if now - child.started_at >= self.HEALTHY_AFTER:
                    child.backoff = 1.0
                # (0 also when gunicorn's arbiter, the parent of every child here, reaped it before us)
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}" if code else "ended"
                _say(f"the {child.name} (pid {proc.pid}) {how}; restarting it in {child.backoff:g} s")
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, self.MAX_BACKOFF)

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            self.check()

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            self._stopping.set()
            running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _gunicorn_available() -> bool:
    try:
        import gunicorn.app.base  # noqa: F401  (Unix only: it needs fork and fcntl)
    except ImportError:
        return False
    return True


def _run_gunicorn(args) -> None:
    """``args.workers`` gunicorn processes of ``args.threads`` threads each (gthread) on the WSGI app.

    Gunicorn's arbiter owns SIGINT and SIGTERM from here on: both stop the web processes, then the
    call returns (by ``SystemExit``) and the caller stops the background worker.
    """
    from gunicorn.app.base import BaseApplication

    options = {
        "bind": f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": "gthread",
        "threads": args.threads,
        "graceful_timeout": 10,
        "control_socket_disable": True,
        "errorlog": "-",
        "loglevel": os.environ.get("GUANXI_WEB_LOG_LEVEL", "warning"),
        "accesslog": "-" if args.access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "proc_name": "guanxi",
    }

    class GuanxiWeb(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from guanxi.wsgi import application

            return application

    GuanxiWeb().run()


def _run_waitress(args) -> None:
    """The fallback where gunicorn cannot run (Windows): one process, ``args.threads`` × workers threads."""
    from waitress import serve

    from guanxi.wsgi import application

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(application, host=args.host, port=args.port, threads=args.threads * args.workers, ident="guanxi")


def _worker(argv: list[str]) -> int:
    from guanxi.celery_app import app

    beat = "--no-beat" not in argv
    rest = [a for a in argv if a != "--no-beat"]
    concurrency = os.environ.get("GUANXI_WORKER_CONCURRENCY", "2")
    worker_argv = ["worker", "--loglevel", os.environ.get("CELERY_LOG_LEVEL", "INFO"), "--concurrency", concurrency]
    if beat:
        worker_argv.append("--beat")
    if not {"-Q", "--queues"} & set(rest):  # on its own, a worker takes short tasks and long jobs alike
        from django.conf import settings

        worker_argv += ["-Q", f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.GUANXI_LONG_QUEUE}"]
    app.worker_main([*worker_argv, *rest])
    return 0


def _beat(argv: list[str]) -> int:
    from django.conf import settings

    from guanxi.celery_app import app

    level = os.environ.get("CELERY_LOG_LEVEL", "INFO")
    app.start(["beat", "--loglevel", level, "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME, *argv])
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
    if command == "beat":
        return _beat(rest)
    if command in ("import", "export"):
        _django([f"{command}_data", *rest])
        return 0
    _django(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

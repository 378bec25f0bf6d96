"""Real threads racing on the database: each waits at one barrier, then runs on its own connection."""

import threading
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection


def _run_together(n: int, work: Callable[[int], Any]) -> tuple[list[tuple[int, Any]], list[Exception]]:
    """``work(0)`` … ``work(n - 1)`` released at once; (index, result) in finishing order, and what was raised."""
    barrier = threading.Barrier(n)
    done: list[tuple[int, Any]] = []
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            done.append((i, work(i)))
        except Exception as exc:  # pragma: no cover - surfaced by the callers' assertions
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, errors


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Every thread must succeed; their results by thread index."""
    done, errors = _run_together(n, work)
    assert not errors, errors
    results: list[Any] = [None] * n
    for i, result in done:
        results[i] = result
    return results


def race_with_refusals(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[Exception]]:
    """A ``ValidationError`` is a refusal, returned with the results (in finishing order); anything else fails."""
    done, errors = _run_together(n, work)
    unexpected = [e for e in errors if not isinstance(e, ValidationError)]
    assert not unexpected, unexpected
    return [result for _i, result in done], errors

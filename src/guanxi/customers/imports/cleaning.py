"""Cleaning the rows of an import: the checks every kind shares, and the pool of processes that cleans
batches of rows beside the importing process.

A kind's cleaning function takes a batch of rows and returns (good rows, rejected rows); it must hold
no database connection, since it may run in a forked worker process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.customers.imports.kinds import Row

#: Rows per batch: cleaned together, written in one transaction, committed with one checkpoint.
BATCH = 1000

#: Rejected rows: (line number, the row, the reason).
Rejected = list[tuple[int, dict[str, str], str]]
Good = TypeVar("Good")
T = TypeVar("T")


def format_errors(exc: ValidationError) -> str:
    """A row's errors as one line of the rejected-rows report: "field: message; field: message"."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


def oversized_cell(row: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """(the row with long cells cut, the reason) when a cell is longer than ``GUANXI_IMPORT_MAX_CELL``."""
    limit = settings.GUANXI_IMPORT_MAX_CELL
    long = [column for column, value in row.items() if len(value) > limit]
    if not long:
        return None
    reason = "; ".join(
        _("Column “%(column)s” holds %(length)s characters; a cell holds at most %(limit)s.")
        % {"column": column, "length": f"{len(row[column]):,}", "limit": f"{limit:,}"}
        for column in long
    )
    return {column: value[:limit] for column, value in row.items()}, reason


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_workers(total_rows: int) -> int:
    """How many processes clean rows beside the importing one: one per core for big files, else none.

    Worker processes are forked, so they need the fork start method and a parent that may have
    children (a daemonic process, such as some task-queue pool workers, may not).
    """
    if total_rows < 4 * BATCH or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    if multiprocessing.current_process().daemon:
        return 0
    return min(os.cpu_count() or 1, 8) if (os.cpu_count() or 1) > 1 else 0


_worker_state: dict[str, Callable[[list[Row]], Any]] = {}


def _worker_init(clean: Callable[[list[Row]], Any]) -> None:
    # A forked copy of the importing process: it cleans rows and never touches the database (the
    # parent's connection it inherited stays unused and is not closed, since the process ends with
    # os._exit).
    _worker_state["clean"] = clean


def _worker_clean(rows: list[Row]) -> Any:
    return _worker_state["clean"](rows)


def cleaned_batches(
    batches: Iterable[list[Row]],
    clean: Callable[[list[Row]], tuple[list[Good], Rejected]],
    workers: int,
) -> Iterator[tuple[int, list[Good], Rejected]]:
    """(rows in batch, good rows, rejects) per batch, in file order, cleaned by ``workers`` processes.

    With workers the next batches are cleaned while the caller writes this one; dedup and writes stay
    in the caller, batch after batch in file order, so the outcome is the serial one. ``clean`` reaches
    the workers by fork, not by pickling.
    """
    if workers < 1:
        for batch in batches:
            yield len(batch), *clean(batch)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(clean,),
    )
    try:
        pending: deque[tuple[int, Future[tuple[list[Good], Rejected]]]] = deque()
        for batch in batches:
            pending.append((len(batch), pool.submit(_worker_clean, batch)))
            if len(pending) > 2 * workers:
                size, future = pending.popleft()
                yield size, *future.result()
        while pending:
            size, future = pending.popleft()
            yield size, *future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""Running an import job: its state, checkpoints and resume, the rejected-rows report, and its files.

``import_run`` reads the file, hands the rows after the resume point to the job's kind
(``ImportKind.run``) with an ``ImportRun``, and records the outcome. A real run commits each batch with
the line it reaches (``ImportJob.committed_line``), so a run started again after a crash resumes there.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import Store, User
from guanxi.core.audit import audit_record
from guanxi.core.spreadsheet import safe_row  # formulas in rejected rows stay text (OWASP CSV injection)
from guanxi.customers.imports.cleaning import Rejected
from guanxi.customers.imports.kinds import Row, import_kind
from guanxi.customers.imports.reading import (
    auto_mapping,
    count_rows,
    file_sha256,
    import_dir,
    read_header,
    read_rows,
    validate_mapping,
)
from guanxi.customers.models import ImportJob


class ImportTakenOver(Exception):  # noqa: N818 - a situation, not a failure
    """Another run of the same job (a task delivered twice) committed first; this run stops and leaves it be."""


def _checkpoint(job: ImportJob, **values: int) -> None:
    """Record progress with the rows it covers, in their transaction, if no other run of the job moved it.

    It is also the run's sign of life: ``update`` skips ``auto_now``, so the heartbeat is set here, or the reaper
    would take any import longer than ``GUANXI_IMPORT_STALE_SECONDS`` for a dead one while it still runs.
    """
    values_with_heartbeat: dict[str, Any] = {**values, "heartbeat_at": timezone.now()}
    if not ImportJob.objects.filter(pk=job.pk, committed_line=job.committed_line).update(**values_with_heartbeat):
        raise ImportTakenOver(job.pk)


def _rejects_kept(path: Path, up_to_line: int) -> list[list[str]]:
    """The rejected rows an interrupted run reported for lines it committed (the report's rows before)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            return [row for row in reader if row and row[0].isdigit() and int(row[0]) <= up_to_line]
    except OSError:
        return []


class ImportRun:
    """One run of a job as its kind sees it: where rejected rows, checkpoints and progress go.

    A kind calls, per batch: ``report(rejected)`` (the rows reach the report on disk before the batch
    commits, so a resumed run keeps them), the checkpoint ``commit_point(...)`` returns inside the batch's
    transaction (none in a dry run), and ``advance(...)`` once the batch is done.
    """

    def __init__(
        self,
        job: ImportJob,
        *,
        header: list[str],
        rejects: Any,
        reject_handle: Any,
        progress: Callable[[int], None] | None,
        workers: int | None,
    ) -> None:
        self.job = job
        self.dry_run = job.dry_run
        #: Processes that clean rows beside this one; None: the kind decides (``import_workers``).
        self.workers = workers
        self._header = header
        self._rejects = rejects
        self._reject_handle = reject_handle
        self._progress = progress

    def report(self, items: Rejected) -> int:
        for line_no, row, reason in items:
            self._rejects.writerow(safe_row([line_no, *[row.get(h, "") for h in self._header], reason]))
        self._reject_handle.flush()  # on disk before the rows' batch commits: a resumed run keeps them
        return len(items)

    def tick(self, n: int) -> None:
        job = self.job
        job.processed_rows += n
        ImportJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now(),
            processed_rows=job.processed_rows,
            created_count=job.created_count,
            matched_count=job.matched_count,
            rejected_count=job.rejected_count,
        )
        if self._progress:
            self._progress(n)

    def commit_point(self, last_line: int, size: int, rejected: int) -> Callable[[int, int], None] | None:
        """The checkpoint a real run writes with a batch: its last line and the counts after it."""
        if self.dry_run:
            return None
        job = self.job

        def write(created: int, matched: int) -> None:
            _checkpoint(
                job,
                committed_line=last_line,
                processed_rows=job.processed_rows + size,
                created_count=job.created_count + created,
                matched_count=job.matched_count + matched,
                rejected_count=job.rejected_count + rejected,
            )

        return write

    def advance(self, last_line: int, size: int, created: int, matched: int, rejected: int) -> None:
        job = self.job
        job.created_count += created
        job.matched_count += matched
        job.rejected_count += rejected
        if self.dry_run:
            self.tick(size)
            return
        job.committed_line = last_line
        job.processed_rows += size
        if self._progress:
            self._progress(size)


def import_run(
    job: ImportJob, *, progress: Callable[[int], None] | None = None, workers: int | None = None
) -> ImportJob:
    """Check (dry run) or perform an import job; safe to call again on a finished dry run.

    The job's kind runs the rows (``ImportKind.run``). Customer rows are cleaned in batches of ``BATCH``,
    by ``workers`` forked processes beside this one (default: ``import_workers(total rows)``, one per core
    for big files; 0 cleans here); this process matches and writes the batches in file order, each in its
    own transaction.

    A real run is idempotent per (job, row): each batch commits with the line it reaches
    (``committed_line``), so calling this again on a job that was interrupted (a crash, a killed
    worker, a redelivered task) resumes after that line, and on a finished job does nothing. The job
    records that it was resumed, and where.
    """
    dry_run = job.dry_run
    if not dry_run:
        job.refresh_from_db()
        if job.status == ImportJob.Status.DONE:
            return job
    interrupted = not dry_run and (
        job.status in (ImportJob.Status.RUNNING, ImportJob.Status.FAILED) or job.committed_line > 0
    )
    resume_after = job.committed_line if interrupted else 0
    reject_path = Path(job.file).with_suffix(".rejected.csv")
    try:
        header = read_header(job.file)
        total_rows = count_rows(job.file)
    except ValidationError as exc:
        _fail(job, "; ".join(exc.messages))
        raise
    job.status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.RUNNING
    job.total_rows = total_rows
    job.error = ""
    if interrupted:
        job.resumed_at_line = resume_after
        job.resume_count += 1
    else:
        job.processed_rows = job.created_count = job.matched_count = job.rejected_count = job.committed_line = 0
        job.resumed_at_line = None
    job.save()
    kept_rejects = _rejects_kept(reject_path, resume_after) if resume_after else []
    rows: Iterator[Row] = (
        (line_no, row)
        for line_no, row in ((i + 2, row) for i, row in enumerate(read_rows(job.file)))
        if line_no > resume_after
    )
    try:
        with open(reject_path, "w", newline="", encoding="utf-8-sig") as reject_handle:
            rejects = csv.writer(reject_handle)
            rejects.writerow(safe_row([_("line"), *header, _("reason")]))
            for kept in kept_rejects:
                rejects.writerow(kept)  # written safe by the interrupted run
            if progress and job.processed_rows:
                progress(job.processed_rows)

            run = ImportRun(
                job,
                header=header,
                rejects=rejects,
                reject_handle=reject_handle,
                progress=progress,
                workers=workers,
            )
            import_kind(job.target).run(run, rows)
    except ImportTakenOver:
        raise  # the other run owns the job now
    except ValidationError as exc:
        _fail(job, "; ".join(exc.messages))
        raise
    except Exception as exc:
        _fail(job, str(exc))
        raise
    job.rejected_file = str(reject_path)
    job.status = ImportJob.Status.VALIDATED if dry_run else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    if not dry_run:
        audit_record(
            actor=job.created_by,
            action="import",
            object_type=f"{job.target}_import",
            object_id=job.pk,
            channel="import",
            changes={
                "created": job.created_count,
                "matched": job.matched_count,
                "rejected": job.rejected_count,
                "resumed_at_line": job.resumed_at_line,
            },
        )
        upload_discard(job)
    return job


def _fail(job: ImportJob, error: str) -> None:
    """Mark the job failed with the reason the user reads; the counts stay those last committed."""
    job.status = ImportJob.Status.FAILED
    job.error = error[:2000]
    job.finished_at = timezone.now()
    job.save()


# ------------------------------------------------------------------ uploaded files: deleted when no longer needed


def _is_upload(path: str) -> bool:
    """True for files the wizard saved under ``import_dir()``; files named on the command line are the user's."""
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(import_dir().resolve())
    except (OSError, ValueError):
        return False


def upload_discard(job: ImportJob) -> bool:
    """Delete the job's uploaded file (not a file of the user's own); True if there was one."""
    if not _is_upload(job.file):
        return False
    try:
        Path(job.file).unlink()
    except FileNotFoundError:
        return False
    return True


def import_files_cleanup(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete uploads and rejected-row reports that are no longer needed; run periodically.

    Uploads of finished imports go at once (``import_run`` deletes them; this catches a crash in
    between); uploads of failed, abandoned or never-run jobs after ``GUANXI_IMPORT_UPLOAD_RETENTION``
    seconds (kept so far for a retry or resume); rejected-row reports, which hold personal data,
    after ``GUANXI_IMPORT_REJECTS_RETENTION``; files no job names after the upload retention.
    Running and checking jobs keep their files.
    """
    now = now or timezone.now()
    upload_cutoff = now - dt.timedelta(seconds=settings.GUANXI_IMPORT_UPLOAD_RETENTION)
    rejects_cutoff = now - dt.timedelta(seconds=settings.GUANXI_IMPORT_REJECTS_RETENTION)
    active = [ImportJob.Status.PENDING, ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING]
    counts = {"uploads": 0, "rejected": 0, "orphans": 0}
    for job in ImportJob.objects.exclude(status__in=active).only("file", "status", "created_at", "finished_at"):
        ended = job.finished_at or job.created_at
        if (job.status == ImportJob.Status.DONE and not job.dry_run) or ended < upload_cutoff:
            counts["uploads"] += upload_discard(job)
    for job in (
        ImportJob.objects.exclude(rejected_file="").filter(finished_at__lt=rejects_cutoff).exclude(status__in=active)
    ):
        if _is_upload(job.rejected_file):
            Path(job.rejected_file).unlink(missing_ok=True)
            counts["rejected"] += 1
        ImportJob.objects.filter(pk=job.pk).update(rejected_file="")
    named: set[str] = set()
    for file, rejected in ImportJob.objects.values_list("file", "rejected_file"):
        named.update(str(Path(p).resolve()) for p in (file, rejected) if p)
    for path in import_dir().iterdir():
        if not path.is_file() or str(path.resolve()) in named:
            continue
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
        if modified < upload_cutoff:
            path.unlink(missing_ok=True)
            counts["orphans"] += 1
    return counts


def import_job_create(
    *,
    actor: User | None,
    path: str,
    target: str = ImportJob.Target.CUSTOMERS,
    mapping: dict[str, str] | None = None,
    dry_run: bool = True,
    store: Store | None = None,
    original_name: str = "",
) -> ImportJob:
    if not os.path.exists(path):
        raise ValidationError({"file": [_("The file %(path)s does not exist.") % {"path": path}]})
    if not str(path).lower().endswith((".csv", ".xlsx", ".xlsm", ".txt")):
        raise ValidationError({"file": [_("Upload a CSV or XLSX file.")]})
    header = read_header(path)
    mapping = mapping if mapping is not None else auto_mapping(header, target)
    missing = [c for c in mapping if c not in header]
    if missing:
        raise ValidationError({"mapping": [_("The file has no column “%(column)s”.") % {"column": c} for c in missing]})
    validate_mapping(mapping, target)
    return ImportJob.objects.create(
        target=target,
        file=str(path),
        file_sha256=file_sha256(str(path)),
        original_name=original_name or Path(path).name,
        mapping=mapping,
        dry_run=dry_run,
        store=store,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )

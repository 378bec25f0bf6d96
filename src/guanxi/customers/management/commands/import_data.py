"""guanxi import customers|orders FILE [--dry-run] [--map "手机=phone" ...] [--store CODE] [--resume JOB] [--again]

An interrupted import is finished with ``--resume JOB``: the rows it committed are not written again.
A file already imported (or partly imported) is refused unless ``--again`` says to import it anew.
Every error is one line on stderr and a non-zero exit.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from tqdm import tqdm

from guanxi.accounts.models import Store, User
from guanxi.customers.imports import (
    ImportTakenOver,
    auto_mapping,
    file_sha256,
    import_job_create,
    import_kinds,
    import_run,
    read_header,
)
from guanxi.customers.models import ImportJob


def _one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return "; ".join(exc.messages)


class Command(BaseCommand):
    help = "Import customers or orders from a CSV or XLSX file, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", choices=sorted(import_kinds()))  # customers, orders (registered by sales)
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="map a column to a field (repeatable); unmapped columns are guessed",
        )
        parser.add_argument("--store", help="home store code for customers without one")
        parser.add_argument("--user", help="username recorded as the importer")
        parser.add_argument(
            "--resume", type=int, metavar="JOB", help="finish the interrupted import JOB of this same file"
        )
        parser.add_argument("--again", action="store_true", help="import a file that was imported before anew")

    def handle(self, *args, target, file, dry_run, map, store, user, resume, again, **options):
        try:
            job = (
                self._resumed(resume, target, file)
                if resume
                else self._new(target, file, dry_run, map, store, user, again)
            )
            with tqdm(total=job.total_rows or None, unit="rows", desc="checking" if dry_run else "importing") as bar:
                job = import_run(job, progress=bar.update)
        except ValidationError as exc:
            raise CommandError(_one_line(exc)) from None
        except ImportTakenOver:
            raise CommandError(_("Another process is running this import.")) from None
        if job.resumed_at_line is not None:
            self.stdout.write(
                _("Resumed after an interruption: rows up to line %(line)s were imported before and were skipped.")
                % {"line": job.resumed_at_line}
            )
        self.stdout.write(
            f"{'Dry run' if dry_run else 'Imported'}: {job.created_count} new, {job.matched_count} matched existing, "
            f"{job.rejected_count} rejected of {job.processed_rows} rows."
        )
        if job.rejected_count:
            self.stdout.write(f"Rejected rows with reasons: {job.rejected_file}")

    def _new(self, target, file, dry_run, map, store, user, again) -> ImportJob:
        mapping = auto_mapping(read_header(file), target)
        for item in map:
            column, _sep, field = item.partition("=")
            mapping[column] = field
        store_obj = Store.objects.filter(code=store).first() if store else None
        if store and store_obj is None:
            raise CommandError(_("There is no store %(store)s.") % {"store": store})
        if not dry_run and not again:
            self._refuse_a_repeat(target, file)
        actor = User.objects.filter(username=user).first() if user else None
        return import_job_create(
            actor=actor, path=file, target=target, mapping=mapping, dry_run=dry_run, store=store_obj
        )

    def _refuse_a_repeat(self, target, file) -> None:
        """Importing the same file twice would add its rows without a phone or e-mail twice: ask first."""
        earlier = (
            ImportJob.objects.filter(target=target, dry_run=False, file_sha256=file_sha256(file))
            .exclude(file_sha256="")
            .order_by("-id")
            .first()
        )
        if earlier is None:
            return
        if earlier.status == ImportJob.Status.DONE:
            raise CommandError(
                _("This file was imported already (job %(job)s). To import it again anyway, add --again.")
                % {"job": earlier.pk}
            )
        raise CommandError(
            _(
                "An import of this file (job %(job)s) stopped after line %(line)s. "
                "Finish it with --resume %(job)s, or import the file anew with --again."
            )
            % {"job": earlier.pk, "line": earlier.committed_line}
        )

    def _resumed(self, pk, target, file) -> ImportJob:
        job = ImportJob.objects.filter(pk=pk, target=target, dry_run=False).first()
        if job is None:
            raise CommandError(
                _("There is no %(target)s import job %(job)s to resume.") % {"target": target, "job": pk}
            )
        if job.file_sha256 and job.file_sha256 != file_sha256(file):
            raise CommandError(_("Job %(job)s imported a different file; resume it with the same file.") % {"job": pk})
        ImportJob.objects.filter(pk=pk).update(file=str(file))  # the same content, wherever it is now
        job.file = str(file)
        return job

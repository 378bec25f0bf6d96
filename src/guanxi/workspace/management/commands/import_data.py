"""guanxi import customers|orders FILE [--dry-run] [--map "手机=phone" ...] [--store CODE]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from guanxi.accounts.models import Store, User
from guanxi.customers.imports import auto_mapping, import_job_create, import_run, read_header


class Command(BaseCommand):
    help = "Import customers or orders from a CSV or XLSX file, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("target", choices=["customers", "orders"])
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

    def handle(self, *args, target, file, dry_run, map, store, user, **options):
        mapping = auto_mapping(read_header(file), target)
        for item in map:
            column, _, field = item.partition("=")
            mapping[column] = field
        store_obj = Store.objects.filter(code=store).first() if store else None
        if store and store_obj is None:
            raise CommandError(f"There is no store {store}.")
        actor = User.objects.filter(username=user).first() if user else None
        try:
            job = import_job_create(
                actor=actor, path=file, target=target, mapping=mapping, dry_run=dry_run, store=store_obj
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        with tqdm(total=None, unit="rows", desc="checking" if dry_run else "importing") as bar:
            job = import_run(job, progress=bar.update)
        self.stdout.write(
            f"{'Dry run' if dry_run else 'Imported'}: {job.created_count} new, {job.matched_count} matched existing, "
            f"{job.rejected_count} rejected of {job.processed_rows} rows."
        )
        if job.rejected_count:
            self.stdout.write(f"Rejected rows with reasons: {job.rejected_file}")

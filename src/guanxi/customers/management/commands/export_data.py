"""guanxi export customers FILE [--user NAME] — CSV or XLSX by the file's ending."""

from django.core.management.base import BaseCommand, CommandError

from guanxi.accounts.models import User
from guanxi.customers.exports import write_csv, write_xlsx
from guanxi.customers.selectors import customer_list


class Command(BaseCommand):
    help = "Export the customers a user may see (default: an administrator) to CSV or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("target", choices=["customers"])
        parser.add_argument("file")
        parser.add_argument("--user", help="export as this user (store visibility applies)")

    def handle(self, *args, target, file, user, **options):
        actor = (
            User.objects.filter(username=user).first()
            if user
            else User.objects.filter(is_superuser=True).order_by("pk").first()
        )
        if actor is None:
            raise CommandError("No such user; create one with `guanxi createsuperuser`.")
        queryset = customer_list(user=actor)
        if file.endswith(".xlsx"):
            count = write_xlsx(file, user=actor, queryset=queryset, channel="cli")
        else:
            with open(file, "w", newline="", encoding="utf-8-sig") as handle:
                count = write_csv(handle, user=actor, queryset=queryset, channel="cli")
        self.stdout.write(f"Exported {count} customers to {file}.")

from django.core.management.base import BaseCommand

from guanxi.loyalty import services


class Command(BaseCommand):
    help = "Run the periodic loyalty jobs: points expiry, coupon expiry, birthday gifts and/or the tier review."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=["expire", "tier-review", "birthdays", "all"])

    def handle(self, *args, job, **options):
        if job in ("expire", "all"):
            self.stdout.write(f"points expired: {services.points_expire_run()}")
            self.stdout.write(f"coupons expired: {services.coupon_expire_run()}")
        if job in ("birthdays", "all"):
            self.stdout.write(f"birthdays: {services.birthday_run()}")
        if job in ("tier-review", "all"):
            self.stdout.write(f"tier review: {services.tier_review()}")

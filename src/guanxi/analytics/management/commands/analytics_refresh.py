"""guanxi analytics_refresh: recompute every customer's RFM, churn and lifetime-value scores now."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from guanxi.analytics.services import scores_refresh


class Command(BaseCommand):
    help = "Recompute RFM segments, P(alive), expected purchases, CLV and category affinity for all customers."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="last day included, YYYY-MM-DD (default: today)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    def handle(self, *args, **options):
        as_of = None
        if options["as_of"]:
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError(f"--as-of: {exc}") from exc
        bars: dict[str, tqdm] = {}
        labels = {"sql": "SQL", "fit": "fit", "store": "store"}

        def progress(stage: str, done: int, total: int) -> None:
            if options["no_progress"]:
                return
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="", file=self.stderr._out)
            bar.update(done - bar.n)

        result = scores_refresh(as_of=as_of, progress=progress)
        for bar in bars.values():
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.customers} customers scored as of {result.refresh.as_of}; timings {result.timings}"
            )
        )
        for fit in result.fits:
            self.stdout.write(
                f"  {fit.model}: {fit.params} log-likelihood {fit.log_likelihood:.1f} n={fit.n_customers}"
            )

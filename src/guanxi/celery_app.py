"""The Celery application; tasks live in each app's ``tasks.py`` and take ids, not objects."""

import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings.base")

logger = logging.getLogger("guanxi.tasks")


class GuanxiTask(DjangoTask):
    """Every task of Guanxi. Publishing after commit is best effort.

    The change is committed before ``delay_on_commit`` publishes, so a broker that is down must not
    turn a committed write into an error: the failure is logged and the periodic sweeps (the event
    outbox, the message queue, the import reaper) deliver what was not published.
    """

    def delay_on_commit(self, *args, **kwargs) -> None:
        transaction.on_commit(functools.partial(self.publish_best_effort, args, kwargs))

    def apply_async_on_commit(self, args=None, kwargs=None, **options) -> None:
        transaction.on_commit(functools.partial(self.publish_best_effort, args or (), kwargs or {}, **options))

    def publish_best_effort(self, args, kwargs, **options) -> bool:
        """Queue the task now; on a broker error log a warning and return False instead of raising."""
        if self.app.conf.task_always_eager:
            self.apply_async(args, kwargs, **options)  # runs here: its own errors are the caller's business
            return True
        try:
            self.apply_async(args, kwargs, **options)
        except Exception as exc:  # the broker is down or unreachable: the sweep delivers it later
            logger.warning(
                "could not queue %s (%s: %s); the periodic sweep will pick it up", self.name, type(exc).__name__, exc
            )
            return False
        return True


app = Celery("guanxi", task_cls=GuanxiTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

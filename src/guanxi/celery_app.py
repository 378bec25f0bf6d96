"""The Celery application; tasks live in each app's ``tasks.py`` and take ids, not objects."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings.base")

app = Celery("guanxi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

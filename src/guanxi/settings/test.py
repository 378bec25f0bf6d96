"""Test settings: the same stack, fast hashing, eager Celery unless a test starts a real worker."""

import os

os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from guanxi.settings.base import *  # noqa: E402, F403
from guanxi.settings.base import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
_suffix = os.environ.get("GUANXI_TEST_DB_SUFFIX", "") + os.environ.get("PYTEST_XDIST_WORKER", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker or a live server in another process sees it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_suffix or 'main'}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_guanxi{'_' + _suffix if _suffix else ''}"}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

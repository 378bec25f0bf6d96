"""Move DRF's plaintext tokens (``authtoken_token``) into ``accounts.ApiToken`` as hashes, then drop the old table.

Integrations keep working with their key (its SHA-256 is what is stored now) until the usual lifetime
(``GUANXI_API_TOKEN_DAYS``) runs out, or the user changes their password. The plaintext keys are deleted with
the table: that is the point of the change, so the reverse cannot bring them back; it removes the imported
tokens, and a rolled-back installation issues new keys.
"""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import migrations
from django.utils import timezone

IMPORTED = "imported from the old plaintext token"


def hash_old_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    User = apps.get_model("accounts", "User")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id FROM authtoken_token")
        rows = cursor.fetchall()
    passwords = dict(User.objects.filter(pk__in=[user_id for _key, user_id in rows]).values_list("pk", "password"))
    expires_at = timezone.now() + dt.timedelta(days=int(getattr(settings, "GUANXI_API_TOKEN_DAYS", 90)))
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                user_id=user_id,
                name=IMPORTED,
                prefix=key[:8],
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                password_stamp=hashlib.sha256(passwords[user_id].encode()).hexdigest(),
                expires_at=expires_at,
            )
            for key, user_id in rows
            if user_id in passwords
        ]
    )
    schema_editor.execute(schema_editor.sql_delete_table % {"table": schema_editor.quote_name("authtoken_token")})
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


def remove_imported_tokens(apps, schema_editor):
    apps.get_model("accounts", "ApiToken").objects.filter(name=IMPORTED).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_api_token")]

    operations = [migrations.RunPython(hash_old_tokens, remove_imported_tokens)]

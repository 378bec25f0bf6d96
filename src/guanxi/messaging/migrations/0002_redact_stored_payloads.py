"""Mask the phone numbers, e-mails and openids that earlier versions kept in the raw webhook payloads
of delivery receipts and SMS replies (data only; new payloads are masked before they are stored)."""

from django.db import migrations

BATCH = 2000


def redact(apps, schema_editor):
    from guanxi.core.redaction import redact_payload

    for name in ("DeliveryReceipt", "InboundMessage"):
        model = apps.get_model("messaging", name)
        last = 0
        while True:
            rows = list(model.objects.filter(pk__gt=last).exclude(raw={}).order_by("pk").only("pk", "raw")[:BATCH])
            if not rows:
                break
            changed = []
            for row in rows:
                masked = redact_payload(row.raw)
                if masked != row.raw:
                    row.raw = masked
                    changed.append(row)
            model.objects.bulk_update(changed, ["raw"])
            last = rows[-1].pk


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_messaging_initial")]

    # masking cannot be undone: the reverse leaves the rows as they are
    operations = [migrations.RunPython(redact, migrations.RunPython.noop)]

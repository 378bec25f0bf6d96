# Order numbers are unique per store (#13 item 11): store A's numbers say nothing about store B's.
# The old constraint, (source, external_ref) over every store, is stricter than the new pair, so existing rows
# satisfy it; the idempotency keys of orders with a store move to that store's scope ("order@<store id>").

from django.db import migrations, models
from django.db.models import CharField, Value
from django.db.models.functions import Concat


def keys_per_store(apps, schema_editor):
    Order = apps.get_model("sales", "Order")
    IdempotencyKey = apps.get_model("core", "IdempotencyKey")
    store_ids = Order.objects.filter(store__isnull=False).values_list("store_id", flat=True).distinct()
    for store_id in store_ids.order_by("store_id"):
        numbers = (
            Order.objects.filter(store_id=store_id)
            .annotate(key=Concat("source", Value(":"), "external_ref", output_field=CharField()))
            .values("key")
        )
        IdempotencyKey.objects.filter(scope="order", key__in=numbers).update(scope=f"order@{store_id}")


def keys_shared(apps, schema_editor):
    IdempotencyKey = apps.get_model("core", "IdempotencyKey")
    IdempotencyKey.objects.filter(scope__startswith="order@").update(scope="order")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_hash_plaintext_api_tokens"),
        ("core", "0003_idempotency_key"),
        ("customers", "0008_dismissed_duplicate"),
        ("sales", "0003_refund_amount_may_be_zero_for_goods"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="order",
            name="order_unique_external_ref",
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                condition=models.Q(("store__isnull", False)),
                fields=("source", "store", "external_ref"),
                name="order_unique_external_ref_per_store",
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                condition=models.Q(("store__isnull", True)),
                fields=("source", "external_ref"),
                name="order_unique_external_ref_no_store",
            ),
        ),
        migrations.RunPython(keys_per_store, keys_shared),
    ]

"""Fill ``birthday_lunar_md`` for the customers whose birthday is marked lunar (a data migration of its own)."""

from django.db import migrations
from lunardate import LunarDate


def fill(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    rows = Customer.objects.filter(birthday_is_lunar=True, birthday__isnull=False).only("id", "birthday")
    changed = []
    for customer in rows.iterator(chunk_size=2000):
        b = customer.birthday
        try:
            lunar = LunarDate.from_solar_date(b.year, b.month, b.day)
        except ValueError:  # outside lunardate's table (before 31 Jan 1900)
            continue
        customer.birthday_lunar_md = lunar.month * 100 + lunar.day
        changed.append(customer)
        if len(changed) >= 2000:
            Customer.objects.bulk_update(changed, ["birthday_lunar_md"])
            changed = []
    Customer.objects.bulk_update(changed, ["birthday_lunar_md"])


def empty(apps, schema_editor):
    apps.get_model("customers", "Customer").objects.update(birthday_lunar_md=None)


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_customer_birthday_is_lunar")]

    operations = [migrations.RunPython(fill, empty)]

"""The shell's one record of its own: which birthdays staff have marked as taken care of this year."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BirthdayDone(models.Model):
    """A birthday marked "done" on the home page: once per customer per year, whoever marked it.

    Greetings sent from the home page are recorded by messaging (the message's dedupe key names the year);
    this row is for the birthdays taken care of otherwise (a call, a card at the counter) or after the greeting.
    """

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    year = models.PositiveSmallIntegerField(_("year"))
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("done by"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    done_at = models.DateTimeField(_("done at"), auto_now_add=True)

    class Meta:
        verbose_name = _("birthday taken care of")
        verbose_name_plural = _("birthdays taken care of")
        constraints = [models.UniqueConstraint(fields=["customer", "year"], name="birthday_done_once_a_year")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.year}"

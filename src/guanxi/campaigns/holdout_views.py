"""The global hold-out page: what it is (on or off, the percentage, how many customers it leaves out) and,
for managers and admins, the form that sets it. Thin: the service validates and audits."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from guanxi.accounts.permissions import can, require, signed_in
from guanxi.campaigns import campaign_selectors as selectors
from guanxi.campaigns import services
from guanxi.campaigns.forms import GlobalHoldoutForm


@login_required
def global_holdout(request: HttpRequest) -> HttpResponse:
    require(request.user, "campaigns.view")
    may_change = can(request.user, "campaigns.approve")
    holdout = services.global_holdout_current()
    form = GlobalHoldoutForm(initial={"enabled": holdout.enabled, "percent": holdout.percent})
    if request.method == "POST":
        require(request.user, "campaigns.approve")
        form = GlobalHoldoutForm(request.POST)
        if form.is_valid():
            try:
                services.global_holdout_update(actor=signed_in(request.user), data=form.service_data())
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
            else:
                flash.success(request, _("Global hold-out saved."))
                return redirect("campaigns:global_holdout")
    return render(
        request,
        "campaigns/global_holdout.html",
        {
            "holdout": holdout,
            "members": selectors.global_holdout_members(request.user, holdout),
            "history": selectors.global_holdout_history(holdout),
            "form": form if may_change else None,
        },
    )

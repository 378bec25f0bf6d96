"""The shell's own pages: home and the store switcher (sign-in is Django's). Each app owns its pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.caching import cached
from guanxi.accounts.stores import scoped, store_choose
from guanxi.customers.models import Customer
from guanxi.sales.models import Order
from guanxi.sales.selectors import order_list
from guanxi.workspace import selectors, services


def _customers(request):
    return scoped(request, Customer.objects.visible_to(request.user))


def _orders(request):
    return Order.objects.filter(customer__in=_customers(request).values("pk"))


@login_required
def home(request):
    customers = _customers(request)
    orders = _orders(request)
    birthdays_page, birthdays = selectors.birthdays_page(customers=customers, page=request.GET.get("birthdays"))
    # the month is in the key: "new this month" starts again at local midnight on the first, not minutes later
    month = timezone.localdate().strftime("%Y%m")
    context = {
        "birthdays": birthdays,
        "birthdays_page": birthdays_page,
        "occasions": selectors.occasions(customers=customers, birthdays=False),
        "recent_orders": list(order_list(user=request.user).filter(customer__in=customers.values("pk"))[:8]),
        "figures": cached(
            f"headline:{month}", request, lambda: selectors.headline_figures(customers=customers, orders=orders)
        ),
        "open_tasks": [],  # filled when the care and service capabilities register their tasks
    }
    return render(request, "workspace/home.html", context)


def _birthday_customer(request, customer_id: int) -> Customer:
    customer = _customers(request).filter(pk=customer_id).first()
    if customer is None:  # another store's customer answers as one that does not exist
        raise Http404(_("There is no customer #%(id)s.") % {"id": customer_id})
    return customer


def _back_to_birthdays(request):
    page = request.POST.get("birthdays") or ""
    return redirect(reverse("workspace:home") + (f"?birthdays={page}" if page.isdigit() else "") + "#birthdays")


@login_required
@require_POST
def birthday_greet(request, customer_id: int):
    """Queue the birthday greeting once a year per customer; a second click says it was sent already."""
    customer = _birthday_customer(request, customer_id)
    try:
        result = services.birthday_greet(actor=request.user, customer=customer)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back_to_birthdays(request)
    if result.duplicates:
        messages.info(request, _("%(name)s was greeted already this year.") % {"name": customer.name})
    elif result.queued:
        messages.success(request, _("Birthday greeting to %(name)s queued.") % {"name": customer.name})
    else:
        messages.error(
            request,
            _("The greeting to %(name)s was not sent: %(reason)s.")
            % {"name": customer.name, "reason": ", ".join(selectors.reason_label(r) for r in result.suppressed)},
        )
    return _back_to_birthdays(request)


@login_required
@require_POST
def birthday_done(request, customer_id: int):
    customer = _birthday_customer(request, customer_id)
    services.birthday_mark_done(actor=request.user, customer=customer)
    messages.success(request, _("%(name)s's birthday is marked done.") % {"name": customer.name})
    return _back_to_birthdays(request)


@login_required
def home_sales_chart(request):
    """The home page's monthly sales, loaded after the page (htmx) and cached: it reads a year of orders."""
    series = cached("monthly_sales", request, lambda: selectors.monthly_sales(orders=_orders(request)))
    return render(request, "workspace/_sales_chart.html", {"sales_chart": series})


@login_required
@require_POST
def store_switch(request):
    raw = request.POST.get("store") or ""
    ok = store_choose(request, int(raw) if raw.isdigit() else None)
    if not ok:
        messages.error(request, _("You do not work at that store."))
    target = request.POST.get("next") or reverse("workspace:home")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("workspace:home")
    return HttpResponseRedirect(target)

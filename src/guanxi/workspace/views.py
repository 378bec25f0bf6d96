"""The shell's own pages: home and the store switcher (sign-in is Django's). Each app owns its pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.caching import cached
from guanxi.accounts.stores import scoped, store_choose
from guanxi.customers.models import Customer
from guanxi.sales.models import Order
from guanxi.sales.selectors import order_list
from guanxi.workspace import selectors


def _customers(request):
    return scoped(request, Customer.objects.visible_to(request.user))


def _orders(request):
    return Order.objects.filter(customer__in=_customers(request).values("pk"))


@login_required
def home(request):
    customers = _customers(request)
    orders = _orders(request)
    context = {
        "occasions": selectors.occasions(customers=customers),
        "recent_orders": list(order_list(user=request.user).filter(customer__in=customers.values("pk"))[:8]),
        "figures": cached("headline", request, lambda: selectors.headline_figures(customers=customers, orders=orders)),
        "open_tasks": [],  # filled when the care and service capabilities register their tasks
    }
    return render(request, "workspace/home.html", context)


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

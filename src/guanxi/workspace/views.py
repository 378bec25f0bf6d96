from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from guanxi.customers.models import Customer


@login_required
def home(request):
    customers = Customer.objects.visible_to(request.user)
    return render(request, "workspace/home.html", {"customer_count": customers.count()})

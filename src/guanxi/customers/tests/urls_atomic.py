"""Views for test_atomic_api_writes: each writes a tag, then answers an error (or raises)."""

from django.http import JsonResponse
from django.urls import path

from guanxi.core.api.transactions import keep_writes_on_error


def _write_then(status: int):
    def view(request):
        from guanxi.customers.models import Tag

        Tag.objects.create(name=f"written-{status}")
        return JsonResponse({"detail": "refused after writing"}, status=status)

    return view


def _write_then_raise(request):
    from guanxi.customers.models import Tag

    Tag.objects.create(name="written-then-raised")
    raise RuntimeError("a failure after the write")


urlpatterns = [
    path("api/refuse/", _write_then(409)),
    path("api/ok/", _write_then(201)),
    path("api/raise/", _write_then_raise),
    path("api/keep/", keep_writes_on_error(_write_then(400))),
    path("page/refuse/", _write_then(409)),
]

from rest_framework import exceptions, viewsets

from guanxi.accounts.api.serializers import StoreSerializer
from guanxi.accounts.models import Store, User


class StoreViewSet(viewsets.ModelViewSet):
    """Stores are reference data: who may change them is ``accounts.permissions`` (the default permission)."""

    serializer_class = StoreSerializer
    reference_model = Store

    def get_queryset(self):
        user = self.request.user
        if not isinstance(user, User):  # the default permission lets no anonymous request this far
            raise exceptions.NotAuthenticated()
        qs = Store.objects.order_by("code")
        return qs if user.sees_all_stores else qs.filter(staff=user)

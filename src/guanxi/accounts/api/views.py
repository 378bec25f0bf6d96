from rest_framework import permissions, viewsets

from guanxi.accounts.api.serializers import StoreSerializer
from guanxi.accounts.models import Store


class IsAdminOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or getattr(request.user, "sees_all_stores", False)


class StoreViewSet(viewsets.ModelViewSet):
    serializer_class = StoreSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdminOrReadOnly]

    def get_queryset(self):
        user = self.request.user
        qs = Store.objects.order_by("code")
        return qs if user.sees_all_stores else qs.filter(staff=user)

from guanxi.accounts.models import Store
from guanxi.core.api.serializers import ModelSerializer


class StoreSerializer(ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "code", "name", "city", "address", "phone", "reply_to_email", "is_active"]

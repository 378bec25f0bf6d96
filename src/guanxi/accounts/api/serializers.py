from rest_framework import serializers

from guanxi.accounts.models import Store


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "code", "name", "city", "address", "phone", "reply_to_email", "is_active"]

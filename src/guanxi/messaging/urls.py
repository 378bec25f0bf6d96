from django.urls import path

from guanxi.messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.message_log, name="log"),
    path("messages/<int:pk>/", views.message_detail, name="detail"),
    path("messages/<int:pk>/resend/", views.message_resend, name="resend"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_edit, name="template_new"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("customers/<int:customer_id>/consent/", views.customer_consent, name="consent"),
]

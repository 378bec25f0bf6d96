"""The customer pages. Mounted at the site root: the paths keep the /customers/ and /imports/ they always had."""

from django.urls import path

from guanxi.customers import views

app_name = "customers"

urlpatterns = [
    path("customers/", views.customer_list_view, name="customers"),
    path("customers/tag/", views.customer_bulk_tag, name="customers_tag"),
    path("customers/export/", views.customer_export, name="customers_export"),
    path("customers/duplicates/", views.duplicates, name="duplicates"),
    path("customers/duplicates/<int:first>/<int:second>/", views.merge_confirm, name="merge"),
    path("customers/new/", views.customer_new, name="customer_new"),
    path("customers/new/check/", views.customer_new_check, name="customer_new_check"),
    path(
        "customers/duplicates/<int:first>/<int:second>/dismiss/", views.duplicate_dismiss_view, name="duplicate_dismiss"
    ),
    path("customers/<int:pk>/", views.customer_detail_view, name="customer"),
    path("customers/<int:pk>/contacts/", views.customer_contact_add, name="customer_contact_add"),
    path(
        "customers/<int:pk>/contacts/<int:contact_id>/",
        views.customer_contact_change,
        name="customer_contact_change",
    ),
    path(
        "customers/<int:pk>/contacts/<int:contact_id>/remove/",
        views.customer_contact_remove,
        name="customer_contact_remove",
    ),
    path(
        "customers/<int:pk>/contacts/<int:contact_id>/primary/",
        views.customer_contact_primary,
        name="customer_contact_primary",
    ),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/notes/", views.customer_note_add, name="customer_note"),
    path("customers/<int:pk>/tags/", views.customer_tag_add, name="customer_tag"),
    path("customers/<int:pk>/dates/", views.customer_date_add, name="customer_date"),
    path("imports/", views.import_start, name="imports"),
    path("imports/<int:pk>/mapping/", views.import_mapping, name="import_mapping"),
    path("imports/<int:pk>/", views.import_job, name="import_job"),
    path("imports/<int:pk>/rejected.csv", views.import_rejected, name="import_rejected"),
]

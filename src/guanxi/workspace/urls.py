from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from guanxi.workspace import views

app_name = "workspace"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="workspace/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="workspace/password_change.html", success_url=reverse_lazy("workspace:password_done")
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="workspace/password_done.html"),
        name="password_done",
    ),
    path("store/", views.store_switch, name="store_switch"),
    path("", views.home, name="home"),
    path("home/sales-chart/", views.home_sales_chart, name="home_sales_chart"),
    path("home/birthdays/<int:customer_id>/greet/", views.birthday_greet, name="birthday_greet"),
    path("home/birthdays/<int:customer_id>/done/", views.birthday_done, name="birthday_done"),
]

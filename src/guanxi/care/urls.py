from django.urls import path

from guanxi.care import views

app_name = "care"
urlpatterns = [
    path("", views.rule_list, name="rule_list"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task_complete"),
    path("calendar/", views.calendar, name="calendar"),
]

from django.urls import path

from guanxi.care import views

app_name = "care"
urlpatterns = [
    path("", views.rule_list, name="rule_list"),
    path("rules/new/", views.rule_form, name="rule_new"),
    path("rules/trigger-params/", views.trigger_params, name="trigger_params"),
    path("rules/step-row/", views.step_row, name="step_row"),
    path("rules/step-row/remove/", views.step_row_remove, name="step_row_remove"),
    path("rules/<int:pk>/", views.rule_detail, name="rule_detail"),
    path("rules/<int:pk>/edit/", views.rule_form, name="rule_edit"),
    path("rules/<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/new/", views.plan_form, name="plan_new"),
    path("plans/<int:pk>/", views.plan_form, name="plan_detail"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task_complete"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/gesture/", views.gesture_log_view, name="gesture_log"),
]

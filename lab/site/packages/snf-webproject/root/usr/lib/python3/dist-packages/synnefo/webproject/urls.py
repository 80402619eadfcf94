from django.urls import re_path

from synnefo.webproject import views

urlpatterns = [
    re_path(r"^lab/health/?$", views.health),
    re_path(r"^", views.index),
]

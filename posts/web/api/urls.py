from django.urls import path

from posts.web.api.endpoints import api

urlpatterns = [path("", api.urls)]

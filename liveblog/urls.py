from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("posts.api_urls")),
    path("desk/", include("posts.desk.urls")),
    path("", include("posts.live_urls")),
    path("", include("posts.urls")),
]

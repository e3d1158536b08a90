from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("posts.web.ops_urls")),
    path("admin/", admin.site.urls),
    path("api/", include("posts.web.api.urls")),
    path("desk/", include("posts.web.desk.urls")),
    path("", include("posts.web.live_urls")),
    path("", include("posts.web.urls")),
]

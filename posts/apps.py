from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class PostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"

    def ready(self) -> None:
        # Register the Celery tasks the domain hands events to by name.
        from liveblog import postgres
        from posts.delivery import tasks  # noqa: F401
        from posts.domain import tasks as domain_tasks  # noqa: F401

        postgres.install()  # a C parser for timestamptz (liveblog/postgres.py)
        user_logged_in.connect(_on_login, dispatch_uid="posts.author_on_login")


def _on_login(sender, request, user, **kwargs) -> None:
    from posts.domain import services

    services.author_on_login(user=user)

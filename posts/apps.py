from django.apps import AppConfig


class PostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"

    def ready(self) -> None:
        # Register the Celery tasks the domain hands events to by name.
        from posts.delivery import tasks  # noqa: F401
        from posts.domain import tasks as domain_tasks  # noqa: F401

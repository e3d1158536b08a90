"""Django finds an app's models here; they live in the domain layer."""

from posts.domain.models import *  # noqa: F403

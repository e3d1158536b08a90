"""Django's admin autodiscovery imports this; the admin is part of the web layer."""

from posts.web import admin  # noqa: F401

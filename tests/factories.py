"""Factories for the rows tests need. Blogs and entries are made through the
services (so they carry their events); people are made directly."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from posts.domain import services
from posts.domain.models import Author, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    user = factory.SubFactory(UserFactory)
    display_name = factory.Faker("name")
    role = Role.REPORTER


def make_blog(*, editor, title: str = "Election night", status: str = "live", **kwargs):
    return services.blog_create(user=editor, title=title, status=status, **kwargs)


def make_entry(*, blog, user, body: str = "Polls have closed.", **kwargs):
    return services.entry_create(blog=blog, user=user, body=body, **kwargs)

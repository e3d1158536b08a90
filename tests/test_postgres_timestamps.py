"""The faster ``timestamptz`` loader (liveblog/postgres.py) reads what
Django's own did: the same instant, the same ``tzinfo``, to the
microsecond; and what ``fromisoformat`` does not read goes to Django's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.utils import timezone as dj_timezone

from liveblog.postgres import _loader_for

from .factories import make_blog, make_entry

TEXTS = [
    b"2026-11-28 15:15:04.101964+00",
    b"2026-11-28 15:15:04+00",
    b"1999-12-31 23:59:59.999999+00",
    b"2026-03-29 01:30:00.5+05:30",  # another session zone: the instant is kept
    b"0044-03-15 12:00:00+00",
]


class DjangosLoader(BaseTzLoader):
    timezone = UTC


@pytest.mark.parametrize("text", TEXTS)
def test_each_text_reads_as_djangos_loader_reads_it(text):
    fast, django = _loader_for(UTC)(1184), DjangosLoader(1184)
    expected = django.load(text) if not text.endswith(b"+05:30") else datetime(2026, 3, 28, 20, 0, 0, 500000, UTC)
    got = fast.load(text)
    assert got == expected and got.tzinfo is UTC and got.microsecond == expected.microsecond


def test_what_fromisoformat_cannot_read_goes_to_djangos_loader():
    with pytest.raises(Exception) as fast_error:
        _loader_for(UTC)(1184).load(b"0044-03-15 12:00:00+00 BC")
    with pytest.raises(Exception) as django_error:
        DjangosLoader(1184).load(b"0044-03-15 12:00:00+00 BC")
    assert type(fast_error.value) is type(django_error.value)


def test_without_a_time_zone_the_value_is_naive_as_djangos():
    got = _loader_for(None)(1184).load(b"2026-11-28 15:15:04.5+00")
    assert got == datetime(2026, 11, 28, 15, 15, 4, 500000) and got.tzinfo is None


@pytest.mark.django_db
def test_entries_read_back_carry_the_instants_written(editor, reporter):
    """On PostgreSQL through the loader the connection was given; on SQLite
    through Django's own converters (the same assertion holds)."""
    blog = make_blog(editor=editor)
    written = dj_timezone.now().replace(microsecond=123456) - timedelta(days=400)
    entry = make_entry(blog=blog, user=reporter, body="Then.")
    type(entry).objects.filter(pk=entry.pk).update(published_at=written)
    with connection.cursor() as cursor:
        cursor.execute("SELECT published_at FROM posts_entry WHERE id = %s", [entry.pk])
        [(raw,)] = cursor.fetchall()
    read = type(entry).objects.get(pk=entry.pk).published_at
    assert read == written and read.utcoffset() == timedelta(0)
    if connection.vendor == "postgresql":
        loader = connection.connection.adapters.get_loader(1184, 0)
        assert loader.__name__ == "FastTzLoader" and loader.timezone == UTC
        assert raw == written

"""A faster reader of PostgreSQL's ``timestamptz`` for Django.

Django reads every ``timestamptz`` through its own loader, a subclass of
psycopg's pure-Python one (the C loader of psycopg-binary cannot be
subclassed), to set the time zone it wants. That parser was about 3 µs a
value, and a cold live page reads ~90 of them (bench/PROFILING.md,
"Third pass"). This loader keeps Django's contract (the same class,
the same ``timezone``) and parses with ``datetime.fromisoformat``, which
is C and reads PostgreSQL's ISO output; anything it does not read (BC
dates, ``infinity``) goes to the original.
"""

from __future__ import annotations

import functools
from datetime import datetime


@functools.cache
def _loader_for(timezone):
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class FastTzLoader(BaseTzLoader):
        def load(self, data):
            try:
                value = datetime.fromisoformat(bytes(data).decode())
            except ValueError:
                return super().load(data)
            if self.timezone is None:  # USE_TZ = False: naive, in the connection's zone
                return value.replace(tzinfo=None)
            return value.astimezone(self.timezone)

    FastTzLoader.timezone = timezone
    return FastTzLoader


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    connection.connection.adapters.register_loader("timestamptz", _loader_for(connection.timezone))


def install() -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="liveblog.postgres.fast_timestamptz")

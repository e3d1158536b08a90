"""Property-based API test: schemathesis generates requests from our own
OpenAPI document, valid and not, and no answer may be a server error."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from liveblog.wsgi import application
from posts.domain import services

from .factories import make_entry

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
# Valid requests and deliberately invalid ones (wrong types, missing fields).
schema.config.generation.update(modes=list(schemathesis.GenerationMode))


@pytest.fixture
def _keep_test_connection():
    """The WSGI handler closes the connection after each request; inside a
    test's transaction it must stay open (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(editor, blog, _keep_test_connection):
    make_entry(blog=blog, user=editor, body="Seed entry for the fuzzer", key_event=True)
    _, key = services.token_create(user=editor)
    return key


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_server_error(case, token):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    case.call_and_validate(checks=[not_a_server_error])

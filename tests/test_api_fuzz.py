"""Property-based API test: schemathesis generates requests from our own
OpenAPI document, valid and not, and runs every one of its checks on each
answer (server errors, documented statuses, content types, response
schemas and headers, valid data accepted, invalid data rejected, auth not
ignored, Allow on 405, ...). Expected statuses are those each operation
documents."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from liveblog.wsgi import application
from posts.domain import services

from .factories import make_entry

_raw = schemathesis.openapi.from_wsgi("/api/openapi.json", application).raw_schema


def _documented_statuses() -> list[dict]:
    """Per operation: valid data gets 2xx or one of the 4xx it documents
    (a rule across fields, a taken slug, a closed blog); invalid data gets
    one of those 4xx (an oversized body its 413)."""
    operations = []
    for methods in _raw["paths"].values():
        for operation in methods.values():
            errors = sorted(code for code in operation["responses"] if code.startswith("4"))
            operations.append({
                "include-operation-id": operation["operationId"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", *errors]},
                    "negative_data_rejection": {"expected-statuses": errors},
                },
            })
    return operations


schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", application, config=schemathesis.Config.from_dict({"operations": _documented_statuses()})
)
# Valid requests and deliberately invalid ones (wrong types, missing fields).
# NUL and lone surrogates included: they are refused with a 422 naming the field.
schema.config.generation.update(modes=list(schemathesis.GenerationMode))

TOKEN: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class BearerToken:
    """The test's editor token; schemathesis leaves it out where it probes a
    missing or invalid Authorization header."""

    def get(self, case, ctx):
        return TOKEN.get("key", "no-token-yet")

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


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
    _, TOKEN["key"] = services.token_create(user=editor)
    yield TOKEN["key"]
    TOKEN.clear()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_check_passes_on_every_operation(case, token):
    case.call_and_validate()

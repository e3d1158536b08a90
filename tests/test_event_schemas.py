"""Every event type has one declared schema (posts/domain/events.py), some
service emits it, and what readers and partners get — ``/updates``, SSE
replay and webhook bodies — validates against it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pydantic import TypeAdapter

from posts.domain import services
from posts.domain.events import SCHEMAS, EntryDeleted, WebhookBody, event_message
from posts.domain.models import Blog, Event
from posts.web.api.schemas import UpdatesOut
from tests.factories import make_entry

from .fanout_support import Recorder, SSEClient


@pytest.fixture
def emitted(live_url, blog, editor, reporter, settings):
    """Run the services that emit every event type, with a partner listening."""
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    partner = Recorder()
    before = Event.objects.filter(blog=blog).count()  # the blog's creation, before the partner
    services.webhook_partner_create(user=editor, url=f"{partner.url}/hook")
    # The fixture's blog is live; make it the draft it was, scheduled to open.
    Blog.objects.filter(pk=blog.pk).update(status=Blog.Status.DRAFT, coverage_start=None)
    blog.refresh_from_db()
    opens_at = timezone.now() + timedelta(hours=1)
    services.blog_update(blog=blog, user=editor, opens_at=opens_at)  # blog.updated
    services.open_due_blogs(now=opens_at)  # blog.opened
    blog.refresh_from_db()
    entry = make_entry(blog=blog, user=reporter, body="Turnout is **61%**.", key_event=True)  # entry.published
    services.entry_edit(entry=entry, user=reporter, version=entry.version, body="Turnout is 62%.")  # entry.updated
    doomed = make_entry(blog=blog, user=reporter, body="A mistake.")
    services.entry_delete(entry=doomed, user=reporter)  # entry.deleted
    services.blog_update(blog=blog, user=editor, title="Election night, live")  # blog.updated
    services.blog_close(blog=blog, user=editor, body="That's all for tonight.")  # blog.closed
    count = Event.objects.filter(blog=blog).count() - before
    yield {"blog": blog, "partner_bodies": [json.loads(r.body) for r in partner.wait_for(count)]}
    partner.close()


def test_every_event_type_has_exactly_one_schema():
    assert set(SCHEMAS) == set(Event.Type.values)


@pytest.mark.parametrize("event_type", Event.Type.values)
def test_each_event_type_is_emitted_and_validates_on_every_surface(emitted, live_url, event_type):
    blog = emitted["blog"]
    stored = [e.message for e in Event.objects.filter(blog=blog, type=event_type)]
    assert stored, f"no service emitted {event_type}"
    for message in stored:
        assert isinstance(event_message.validate_python(message), SCHEMAS[event_type])

    updates = Client().get(f"/api/blogs/{blog.slug}/updates?since=0")
    assert updates.status_code == 200
    events = TypeAdapter(UpdatesOut).validate_python(updates.json()).events
    assert any(isinstance(e, SCHEMAS[event_type]) for e in events)

    stream = SSEClient(f"{live_url}/live/{blog.slug}/events", last_event_id="0")
    frames = [m for m in stream.rest() if m.event]
    stream.close()
    replayed = [event_message.validate_python(m.json) for m in frames]
    assert [m.seq for m in replayed] == [int(m.id) for m in frames]
    assert any(isinstance(e, SCHEMAS[event_type]) for e in replayed)

    bodies = [WebhookBody.model_validate(b) for b in emitted["partner_bodies"]]
    assert any(b.type == event_type and isinstance(b.data, SCHEMAS[event_type]) for b in bodies)


def test_a_payload_with_an_undeclared_field_does_not_validate():
    """Drift is caught: a field nobody declared fails the schema."""
    with pytest.raises(ValueError):
        EntryDeleted.model_validate({"seq": 3, "type": "entry.deleted", "entry": {"id": 1, "deleted": True, "body": "x"}})

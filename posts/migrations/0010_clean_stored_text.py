"""Clean text stored before the text rule (posts.domain.text): control
characters, non-characters, NUL and lone surrogates are removed from every
text field and event payload, so no stored row can break a feed or page."""

from django.db import migrations

from posts.domain.text import scrub, scrub_json

TEXT_FIELDS = {
    "Blog": ["title", "standfirst", "standfirst_html"],
    "Entry": ["headline", "body", "body_html", "body_text", "claim", "claimant", "review_note"],
    "EntryRevision": ["headline", "body"],
    "Author": ["display_name"],
    "WebhookPartner": ["name"],
    "ApiToken": ["name"],
}


def clean(apps, schema_editor):
    for model_name, fields in TEXT_FIELDS.items():
        model = apps.get_model("posts", model_name)
        for row in model.objects.only("pk", *fields).iterator(chunk_size=2000):
            changed = {f: scrub(getattr(row, f)) for f in fields if scrub(getattr(row, f)) != getattr(row, f)}
            if changed:
                model.objects.filter(pk=row.pk).update(**changed)
    Event = apps.get_model("posts", "Event")
    for event in Event.objects.only("pk", "payload").iterator(chunk_size=2000):
        payload = scrub_json(event.payload)
        if payload != event.payload:
            Event.objects.filter(pk=event.pk).update(payload=payload)


class Migration(migrations.Migration):
    dependencies = [("posts", "0009_idempotency_keys")]

    operations = [migrations.RunPython(clean, migrations.RunPython.noop, elidable=True)]

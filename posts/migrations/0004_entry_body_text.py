"""Entry.body_text: the plain text of body_html, made at save like the HTML
(feeds and JSON-LD used to strip tags on every cache miss). Existing entries
are filled in batches."""

from django.db import migrations, models


def fill_body_text(apps, schema_editor):
    from posts.domain.rendering import plain_text

    Entry = apps.get_model("posts", "Entry")
    batch = []
    for entry in Entry.objects.only("id", "body_html").iterator(chunk_size=1000):
        entry.body_text = plain_text(entry.body_html)
        batch.append(entry)
        if len(batch) == 1000:
            Entry.objects.bulk_update(batch, ["body_text"])
            batch = []
    Entry.objects.bulk_update(batch, ["body_text"])


class Migration(migrations.Migration):
    dependencies = [
        ("posts", "0003_key_events_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="entry",
            name="body_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(fill_body_text, migrations.RunPython.noop),
    ]

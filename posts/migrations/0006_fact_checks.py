"""Fact checks on entries (and kept in revisions), a blog's language, an
author's profile URL; body_text made again now that plain_text keeps blocks
apart (it used to glue "closed.Counting")."""

import posts.domain.models
from django.conf import settings
from django.db import migrations, models


def refill_body_text(apps, schema_editor):
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
        ('posts', '0005_blog_last_event_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='author',
            name='url',
            field=models.URLField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='blog',
            name='language',
            field=models.CharField(default=posts.domain.models.default_language, max_length=35),
        ),
        migrations.AddField(
            model_name='entry',
            name='claim',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='entry',
            name='claim_date',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='entry',
            name='claim_url',
            field=models.URLField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='entry',
            name='claimant',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='entry',
            name='verdict',
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.AddField(
            model_name='entryrevision',
            name='fact_check',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='entry',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('claim', ''), ('claim_date__isnull', True), ('claim_url', ''), ('claimant', ''), ('verdict', '')), models.Q(models.Q(('verdict', ''), _negated=True), models.Q(('claim', ''), _negated=True), models.Q(('claimant', ''), _negated=True)), _connector='OR'), name='fact_check_whole_or_none'),
        ),
        migrations.RunPython(refill_body_text, migrations.RunPython.noop),
    ]

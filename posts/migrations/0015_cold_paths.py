# Issue 15: the pinned entry and key events read through their partial indexes on SQLite too.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0014_media'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='entry',
            name='one_pinned_entry_per_blog',
        ),
        migrations.RemoveIndex(
            model_name='entry',
            name='entry_key_events',
        ),
        migrations.AddIndex(
            model_name='entry',
            index=models.Index(condition=models.Q(('key_event', True), ('status', 'published')), fields=['blog', 'status', '-published_at', '-id'], name='entry_key_events'),
        ),
        migrations.AddConstraint(
            model_name='entry',
            constraint=models.UniqueConstraint(condition=models.Q(('pinned', True), ('status', 'published')), fields=('blog', 'status'), name='one_pinned_entry_per_blog'),
        ),
    ]

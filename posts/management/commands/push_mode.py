"""``manage.py push_mode [sse|poll|default] [--blog SLUG]``: the overload switch
(posts/delivery/pushmode.py). Without a mode it prints the current one."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from posts.delivery import overload, pushmode


class Command(BaseCommand):
    help = (
        "Move the readers of one blog (--blog) or of all blogs from live streams to polling "
        "/updates (poll) and back (sse); 'default' goes back to LIVEBLOG_PUSH_MODE."
    )

    def add_arguments(self, parser):
        parser.add_argument("mode", nargs="?", choices=[*pushmode.MODES, "default"])
        parser.add_argument("--blog", default=None, help="one blog's slug (default: every blog)")

    def handle(self, *args, mode, blog, **options):
        if mode is not None:
            try:
                overload.readers_switch(mode=None if mode == "default" else mode, slug=blog)
            except OSError as exc:
                raise CommandError(f"{exc}: the switch needs the shared cache (REDIS_URL)") from exc
        slug = blog or "*"
        pace = pushmode.pace(blog or "")
        self.stdout.write(
            f"{slug}: {pace.mode} (poll every {pace.poll_ms} ms, SSE retry {pace.retry_ms} ms; "
            f"setting LIVEBLOG_PUSH_MODE={settings.LIVEBLOG_PUSH_MODE})"
        )

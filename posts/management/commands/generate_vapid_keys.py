"""Print a new VAPID key pair for Web Push as environment lines."""

from django.core.management.base import BaseCommand

from posts.delivery.push import generate_keys


class Command(BaseCommand):
    help = "Generate a VAPID key pair for Web Push and print it as environment variables."

    def handle(self, *args, **options):
        private, public = generate_keys()
        self.stdout.write(f"LIVEBLOG_VAPID_PRIVATE_KEY={private}")
        self.stdout.write(f"LIVEBLOG_VAPID_PUBLIC_KEY={public}")

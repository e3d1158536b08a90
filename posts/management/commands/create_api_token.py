from django.core.management.base import BaseCommand, CommandError

from posts.domain import services
from posts.domain.errors import ServiceError
from posts.domain.models import Role


class Command(BaseCommand):
    help = "Create (if needed) a newsroom user and print a new API token as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=None,
                            help="newsroom-wide role (default: keep, or reporter for a new user)")
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args, username, role, name, **options):
        try:
            author = services.author_ensure(username=username, role=role)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        _, key = services.token_create(user=author.user, name=name)
        self.stderr.write(f"Token for {username} ({author.role}); it is not shown again:")
        self.stderr.flush()
        self.stdout.write(key)

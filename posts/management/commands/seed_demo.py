"""Seed an original demo live blog that exercises every kind and flag.

An evening's coverage: entries spread over the last three hours, an edit,
a pinned summary, key events, a draft waiting for approval, and a scheduled
entry that goes live a minute after seeding (the embedded scheduler, or
beat, publishes it). Idempotent: an existing demo blog is left alone
(``--reset`` rebuilds it). Demo users get the password ``demo-password``;
never run this on a production database.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from posts.domain import fact_checks, services
from posts.domain.models import Blog, Entry, Role

DEMO_SLUG = "harbour-city-budget-night"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the demo desk's published login (README), local only

# Minutes after the coverage started (three hours ago).
ENTRIES = [
    dict(minute=150, kind="summary", headline="What we know so far",
         body="- The council vote on the harbour budget is expected **after 10pm**.\n"
              "- Ferry fares and the night-bus network are the two sticking points.\n"
              "- Protesters have gathered peacefully outside the town hall."),
    dict(minute=0, headline="Doors open at the town hall", photo=True,
         body="Public gallery seats filled within eight minutes. Staff have opened an overflow room "
              "with a video feed."),
    dict(minute=12, headline="Mayor opens the session", key_event=True,
         body="> Tonight is about whether a harbour city can still afford its own harbour.\n\n"
              "The mayor asked councillors to keep speeches to three minutes."),
    dict(minute=27, body="Our transport reporter is outside the ferry terminal, where the last sailing of the "
              "night left half empty. Commuters we spoke to said the proposed fare rise would push "
              "them back into cars."),
    dict(minute=34, headline="Fact check: ferry journeys",
         body="The port authority's own figures show 1.9 million ferry journeys last year, "
              "down from 2.4 million in 2019.",
         fact_check={"claim": "More people take the ferry than ever before.",
                     "claimant": "Councillor Reyes", "verdict": "False"}),
    dict(minute=41, headline="Watch: the opening statement",
         body="The council's own stream of the opening statement:\n\nhttps://www.youtube.com/watch?v=aqz-KE-bpKQ"),
    dict(minute=58, headline="Night buses amendment tabled", key_event=True,
         body="Councillor Okafor has tabled an amendment that would protect three night-bus routes, "
              "paid for by delaying the new marina walkway by a year."),
    dict(minute=84, body="The transport union has posted its reaction:\n\nhttps://bsky.app/profile/example.org/post/3kdemo42"),
    dict(minute=121, headline="Amendment passes 23–19", key_event=True,
         body="The night-bus amendment **passes**. The main budget vote follows after a 15-minute break."),
]


class Command(BaseCommand):
    help = "Seed the demo live blog (and demo desk users)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete and rebuild the demo blog")

    def handle(self, *args, reset=False, **options):
        if Blog.objects.filter(slug=DEMO_SLUG).exists():
            if not reset:
                self.stdout.write(f"Demo blog already present: /live/{DEMO_SLUG}/")
                return
            Blog.objects.filter(slug=DEMO_SLUG).delete()
        with transaction.atomic():
            self._seed()
        self.stdout.write(
            f"Seeded /live/{DEMO_SLUG}/ — desk users editor, reporter, contributor "
            f"(password '{DEMO_PASSWORD}')"
        )

    def _user(self, username, role, name):
        author = services.author_ensure(username=username, role=role, display_name=name)
        user = author.user
        if not user.password or not user.has_usable_password():
            user.set_password(DEMO_PASSWORD)
            user.save()
        if role == Role.EDITOR and not user.is_staff:
            user.is_staff = True
            user.is_superuser = True
            user.save()
        return user

    def _seed(self):
        editor = self._user("editor", Role.EDITOR, "Amira Haddad")
        reporter = self._user("reporter", Role.REPORTER, "Tom Brennan")
        contributor = self._user("contributor", Role.CONTRIBUTOR, "Lina Park")
        start = timezone.now() - timedelta(hours=3)
        blog = services.blog_create(
            user=editor,
            coverage_start=start,
            title="Harbour City budget night: live",
            slug=DEMO_SLUG,
            standfirst="Councillors vote on a budget that decides the future of the ferries "
                        "and night buses. Follow every twist **as it happens**.",
            status=Blog.Status.LIVE,
        )
        services.team_set_member(blog=blog, user=editor, member=reporter, role=Role.REPORTER)
        services.team_set_member(blog=blog, user=editor, member=contributor, role=Role.CONTRIBUTOR)
        summary = None
        for i, spec in enumerate(sorted(ENTRIES, key=lambda e: e["minute"])):
            spec = dict(spec)
            at = start + timedelta(minutes=spec.pop("minute"), seconds=17 * i)
            author = reporter if i % 2 else editor
            if "fact_check" in spec and spec["fact_check"]["verdict"] not in fact_checks.verdicts():
                # A newsroom with its own scale: the worst of its labels.
                spec = {**spec, "fact_check": {**spec["fact_check"], "verdict": fact_checks.verdicts()[-1]}}
            if spec.pop("photo", False):
                spec["image"] = services.store_media_from_bytes(
                    data=_demo_photo(), blog=blog, user=author,
                    alt="The town hall at dusk across the harbour, its windows lit",
                    caption="The town hall as the session began.", credit="Demo image",
                )
            entry = services.entry_create(blog=blog, user=author, authors=[author], published_at=at, **spec)
            if spec.get("kind") == "summary":
                summary = entry
        services.entry_pin(entry=summary, user=editor)
        typo = services.entry_create(
            blog=blog, user=reporter, headline="Budget vote delayed", published_at=start + timedelta(minutes=163),
            body="The final vote has been pushed back to 10.45pm after a request for a recount of the amendmant.",
        )
        services.entry_edit(
            entry=typo, user=reporter, version=typo.version,
            body="The final vote has been pushed back to 10.45pm after a request for a recount of the amendment.",
        )
        services.entry_create(
            blog=blog, user=reporter, status=Entry.Status.SCHEDULED,
            publish_at=timezone.now() + timedelta(minutes=1),
            headline="Coming up: the final vote",
            body="Councillors are filing back in. The final budget vote is next; we will bring you the result "
                 "the moment it is read out.",
        )
        services.entry_create(
            blog=blog, user=contributor, status=Entry.Status.DRAFT, submit=True,
            body="Photo from the public gallery: people standing at the back, many holding ferry timetables.",
        )


def _demo_photo() -> bytes:
    """A drawn stand-in for a photo (the demo ships no image files): a town
    hall at dusk over the harbour, 1600 x 900."""
    import io

    from PIL import Image, ImageDraw

    width, height = 1600, 900
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        sky = (int(40 + 180 * t), int(50 + 90 * t), int(110 + 40 * t)) if y < 560 else (20, 45, int(80 + 40 * t))
        draw.line([(0, y), (width, y)], fill=sky)
    draw.rectangle([560, 300, 1040, 560], fill=(70, 60, 60))
    draw.polygon([(540, 300), (800, 180), (1060, 300)], fill=(90, 70, 65))
    for x in range(600, 1000, 60):
        for y in (340, 420, 490):
            draw.rectangle([x, y, x + 30, y + 40], fill=(250, 210, 120))
    draw.rectangle([0, 540, width, 560], fill=(40, 40, 45))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()

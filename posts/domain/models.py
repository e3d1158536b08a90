"""The live-blog domain: blogs, their teams, entries, revisions, the event
log, API tokens and the fan-out targets (webhook partners, push subscribers).

Models hold fields, constraints and small derived properties only; every
change a reader can see goes through :mod:`posts.domain.services`. Over 400
lines: one module is where Django and readers look for the schema.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .text import scrub


def default_language() -> str:
    """A new blog's language: the site's ``LANGUAGE_CODE`` as a BCP 47 tag."""
    from posts.domain.languages import normalize_language_tag

    return normalize_language_tag(settings.LANGUAGE_CODE)


class Role(models.TextChoices):
    EDITOR = "editor", "Editor"
    REPORTER = "reporter", "Reporter"
    CONTRIBUTOR = "contributor", "Contributor"


class Author(models.Model):
    """A newsroom member: the name on bylines and a newsroom-wide role.

    The role here applies to every blog; a blog's team (:class:`Membership`)
    can give a member a different role on that blog.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="author"
    )
    display_name = models.CharField(max_length=120, blank=True)
    # A profile page, linked from bylines in structured data and feeds.
    url = models.URLField(max_length=500, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REPORTER)

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        # Scrubbed: a user's names may be edited in Django's own user admin.
        return scrub(
            self.display_name
            or self.user.get_full_name()
            or self.user.get_username()
        )


class Blog(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    standfirst = models.TextField(blank=True)
    standfirst_html = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    coverage_start = models.DateTimeField(null=True, blank=True)
    coverage_end = models.DateTimeField(null=True, blank=True)
    # A draft blog scheduled to open: its public page counts down to this
    # time, and the scheduler takes it live then (docs/scheduler.md). Null
    # once open.
    opens_at = models.DateTimeField(null=True, blank=True)
    # Readers may send questions from the live page (docs/questions.md).
    questions_enabled = models.BooleanField(default=False)
    # BCP 47 tag of the coverage (feeds, structured data, the page's lang).
    language = models.CharField(max_length=35, default=default_language)
    # "N reading now" on the public page (docs/polls.md), an editor's choice.
    show_reader_count = models.BooleanField(default=False)
    # The last event sequence number handed out; bumped in the same
    # transaction as the event it numbers, which keeps seq gap-free.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # When that event was written (its created_at): Last-Modified of the
    # blog's pages and feeds without a query on the event log.
    last_event_at = models.DateTimeField(null=True, blank=True, editable=False)
    team = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="blogs", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["opens_at"], condition=Q(status="draft", opens_at__isnull=False), name="blog_opening_due"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("live-page", kwargs={"slug": self.slug})

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED

    @property
    def is_upcoming(self) -> bool:
        """A draft scheduled to open: public as a countdown, nothing more."""
        return self.status == self.Status.DRAFT and self.opens_at is not None


class Membership(models.Model):
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REPORTER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blog", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.blog}"


class Media(models.Model):
    """An uploaded photo: the stored original (EXIF removed) and its
    renditions, in the ``default`` storage while public, in ``withheld``
    once taken down with its entry (docs/media.md)."""

    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, null=True, blank=True, related_name="media")
    # The stored original's name in its storage; renditions sit beside it.
    file = models.FileField(max_length=255)
    alt = models.CharField(max_length=500)
    caption = models.CharField(max_length=1000, blank=True)
    credit = models.CharField(max_length=200, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=20)
    size = models.PositiveIntegerField(default=0)
    # [{"width", "height", "type", "name", "size"}], made by a task after upload.
    renditions = models.JSONField(default=list, blank=True)
    # True once taken down with its entry: the files are in the withheld storage.
    withheld = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "media"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.pk}: {self.alt[:60]}"

    @property
    def names(self) -> list[str]:
        """Every stored file of the photo: the original and its renditions."""
        return [self.file.name, *(r["name"] for r in self.renditions)]


class Entry(models.Model):
    class Kind(models.TextChoices):
        UPDATE = "update", "Update"
        SUMMARY = "summary", "Summary"
        CLOSING = "closing", "Closing note"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        DELETED = "deleted", "Deleted"

    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.UPDATE)
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    body_html = models.TextField(editable=False)
    # body_html as plain text, also made at save (JSON-LD, feeds, push).
    body_text = models.TextField(editable=False, blank=True)
    authors = models.ManyToManyField(Author, related_name="entries", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    key_event = models.BooleanField(default=False)
    # On a draft or scheduled entry: pin it when it is published.
    pinned = models.BooleanField(default=False)
    # A contributor's draft waiting for an editor.
    awaiting_approval = models.BooleanField(default=False)
    # An editor's note when sending a submitted draft back to its writer;
    # desk-only (drafts make no reader events).
    review_note = models.TextField(blank=True)
    review_note_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_note_at = models.DateTimeField(null=True, blank=True)
    publish_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Set only when the headline, body or fact check changes after publication.
    updated_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # A fact check (docs/fact-checks.md): the claim, who made it, where and
    # when, and the verdict, one of settings.LIVEBLOG_FACT_CHECK_VERDICTS; the
    # body is the reporter's explanation. All empty on other entries.
    claim = models.TextField(blank=True)
    claimant = models.CharField(max_length=200, blank=True)
    claim_url = models.URLField(max_length=500, blank=True)
    claim_date = models.DateField(null=True, blank=True)
    verdict = models.CharField(max_length=60, blank=True)
    # The entry's photo (docs/media.md); a photo in use cannot be deleted
    # (RESTRICT: deleting a blog still takes its entries and photos together).
    image = models.ForeignKey(Media, on_delete=models.RESTRICT, null=True, blank=True, related_name="entries")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-published_at", "-id"]
        constraints = [
            # ``status`` is a column too (always "published" here) so SQLite's
            # planner, which counts equality columns, picks this index over
            # entry_timeline for the pinned entry (bench/PROFILING.md).
            models.UniqueConstraint(
                fields=["blog", "status"],
                condition=Q(pinned=True, status="published"),
                name="one_pinned_entry_per_blog",
            ),
            models.CheckConstraint(
                condition=(
                    Q(verdict="", claim="", claimant="", claim_url="", claim_date__isnull=True)
                    | (~Q(verdict="") & ~Q(claim="") & ~Q(claimant=""))
                ),
                name="fact_check_whole_or_none",
            ),
        ]
        indexes = [
            models.Index(fields=["blog", "status", "-published_at", "-id"], name="entry_timeline"),
            models.Index(fields=["status", "publish_at"], name="entry_due"),
            # The key-events list reads only these rows, however long the blog
            # (``status`` as a column: see one_pinned_entry_per_blog).
            models.Index(
                fields=["blog", "status", "-published_at", "-id"],
                condition=Q(key_event=True, status="published"),
                name="entry_key_events",
            ),
        ]

    def __str__(self) -> str:
        return self.headline or self.body[:60]

    def get_absolute_url(self) -> str:
        return reverse("entry-permalink", kwargs={"slug": self.blog.slug, "entry_id": self.pk})

    @property
    def byline(self) -> list[Author]:
        """The entry's authors: the list :mod:`posts.selectors` prefetched
        (``to_attr="_byline"``, no per-entry queryset built), else
        ``authors.all()`` (which uses any ordinary prefetch)."""
        prefetched = self.__dict__.get("_byline")
        return prefetched if prefetched is not None else list(self.authors.all())

    @property
    def summary_text(self) -> str:
        """The entry in one line of plain text: its headline, else its body
        cut to ~80 characters (key-events list, sharing cards, live payloads)."""
        from .rendering import summarize

        return self.headline or summarize(self.body_text)

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def reader_poll(self) -> Poll | None:
        """The entry's poll, or None (``select_related("poll")`` saves the query)."""
        try:
            return self.poll
        except Poll.DoesNotExist:
            return None

    @property
    def fact_check(self) -> dict | None:
        """The public shape ``{claim, claimant, claim_url, claim_date, verdict}``
        (optional parts null), or None when the entry is not a fact check."""
        if not self.verdict:
            return None
        return {
            "claim": self.claim,
            "claimant": self.claimant,
            "claim_url": self.claim_url or None,
            "claim_date": self.claim_date.isoformat() if self.claim_date else None,
            "verdict": self.verdict,
        }


class EmbedPreview(models.Model):
    """What an embedded post or video showed when its entry was saved: the
    click-to-load facade readers see instead of the provider's script
    (docs/embeds.md). Captured by a task through the guarded client; its
    text passed the text rule; gone with the entry on a takedown."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="embed_previews")
    # The link as it stands in the body.
    url = models.URLField(max_length=500)
    provider = models.CharField(max_length=40)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    # The provider's player, loaded only on a reader's click (a frame-src origin).
    frame_src = models.URLField(max_length=500, blank=True)
    # Our own copy of the thumbnail (default_storage, under embeds/).
    thumbnail = models.FileField(upload_to="embeds/", max_length=200, blank=True)
    thumbnail_width = models.PositiveIntegerField(null=True, blank=True)
    thumbnail_height = models.PositiveIntegerField(null=True, blank=True)
    captured_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "url"], name="one_preview_per_entry_link")]

    def __str__(self) -> str:
        return f"{self.provider} {self.url}"

    @property
    def rendering(self) -> dict:
        """The facade's parts, as :func:`posts.domain.rendering.embed_card` takes them."""
        return {
            "provider": self.provider,
            "title": self.title,
            "text": self.text,
            "author_name": self.author_name,
            "frame_src": self.frame_src,
            "thumbnail_url": self.thumbnail.url if self.thumbnail else "",
            "thumbnail_width": self.thumbnail_width,
            "thumbnail_height": self.thumbnail_height,
        }
class Poll(models.Model):
    """A reader poll in an entry (docs/polls.md): its question and options are
    the entry's; its tallies are counted apart (posts/domain/polls.py) and
    travel as ``poll.updated``, never in the entry's HTML."""

    entry = models.OneToOneField(Entry, on_delete=models.CASCADE, related_name="poll")
    question = models.CharField(max_length=300)
    # Optional: a poll without one stays open until a reporter closes it.
    closes_at = models.DateTimeField(null=True, blank=True)
    # Set when the result froze (closed by hand, by its time, or the blog closing).
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["closes_at"], condition=Q(closed_at__isnull=True), name="poll_due"),
        ]

    def __str__(self) -> str:
        return self.question

    def is_closed(self, now=None) -> bool:
        """Closed by hand, or past its closing time (the flush marks it soon)."""
        if self.closed_at is not None:
            return True
        return self.closes_at is not None and self.closes_at <= (now or timezone.now())


class PollOption(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=200)
    # Votes counted so far, written only by the flush (posts/domain/polls.py).
    votes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "position"], name="one_option_per_position"),
        ]

    def __str__(self) -> str:
        return self.label


class PollVote(models.Model):
    """One vote not yet counted, where there is no Redis (the embedded
    default): inserted, never updated; the flush adds them to
    ``PollOption.votes`` and deletes them in one transaction."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="+")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"poll {self.poll_id} option {self.option_id}"


class EntryRevision(models.Model):
    """One saved version of an entry: the history editors and desks see."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    kind = models.CharField(max_length=8, choices=Entry.Kind.choices)
    key_event = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Entry.Status.choices)
    fact_check = models.JSONField(null=True, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "version"], name="one_revision_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.entry_id} v{self.version}"


class Event(models.Model):
    """The transactional outbox: one row per change a reader can see.

    ``seq`` is per blog, strictly increasing and gap-free; it is the SSE
    event id, the API's ``since`` cursor and the webhook ordering key.
    """

    class Type(models.TextChoices):
        ENTRY_PUBLISHED = "entry.published"
        ENTRY_UPDATED = "entry.updated"
        ENTRY_DELETED = "entry.deleted"
        BLOG_UPDATED = "blog.updated"
        BLOG_CLOSED = "blog.closed"
        BLOG_OPENED = "blog.opened"

    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32, choices=Type.choices)
    payload = models.JSONField()
    # Set by services._record_event to the blog's last_event_at.
    created_at = models.DateTimeField(default=timezone.now)
    # Set once every fan-out target has taken the event; the sweep re-sends
    # events left unconfirmed.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["blog_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["blog", "seq"], name="one_event_per_seq"),
        ]
        indexes = [
            models.Index(fields=["fanned_out_at", "created_at"], name="event_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.blog_id}#{self.seq} {self.type}"

    @property
    def message(self) -> dict:
        """The wire shape shared by SSE, /updates and webhooks."""
        return {"seq": self.seq, "type": self.type, **self.payload}


class ApiToken(models.Model):
    """A bearer token for the write API. Only a SHA-256 of the key is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class WebhookPartner(models.Model):
    """A partner's endpoint that receives signed events."""

    name = models.CharField(max_length=120, blank=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, editable=False)
    blogs = models.ManyToManyField(Blog, blank=True, related_name="webhook_partners")
    # Empty list: every event type.
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # When the current run of failures began (null while healthy); a partner
    # failing for long enough is paused.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name or self.url


class WebhookDelivery(models.Model):
    """One event owed to one partner; ``msg_id`` is the webhook-id."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    partner = models.ForeignKey(WebhookPartner, on_delete=models.CASCADE, related_name="deliveries")
    # Null for a message outside the event log (poll.updated): its body is
    # in ``payload`` (docs/polls.md).
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True)
    payload = models.JSONField(null=True, blank=True, editable=False)
    msg_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["partner", "event"], name="one_delivery_per_partner_event"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # Retention finds delivered rows past their keep (posts/domain/retention.py).
            models.Index(fields=["delivered_at"], name="delivery_delivered"),
        ]

    def __str__(self) -> str:
        return self.msg_id


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]
        # Retention finds attempts past their keep (posts/domain/retention.py).
        indexes = [models.Index(fields=["at"], name="attempt_at")]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at:%H:%M:%S} → {self.status_code or self.error[:40]}"


class PushSubscription(models.Model):
    """A reader's browser subscribed to a blog's key events and closing note."""

    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    # The newest event pushed to this browser: each event is pushed at most once.
    last_event_id = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blog", "endpoint"], name="one_subscription_per_endpoint"),
        ]

    def __str__(self) -> str:
        return self.endpoint[:60]


class IdempotencyKey(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key``, kept 24 h
    per caller (``scope``: an API token or a desk user) so a retry gets it
    again instead of writing twice (posts.domain.services.idempotency)."""

    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and body the key was first used with.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Null while the first request is in flight.
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content = models.BinaryField(blank=True, default=b"")
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:20]} {self.status or 'in flight'}"


class Erasure(models.Model):
    """The audit record of a legal erase: which entry, who, when and why.

    The entry's text is gone everywhere; this row keeps no text of it. It
    outlives the blog and the user (names are copied)."""

    blog = models.ForeignKey(Blog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    blog_slug = models.CharField(max_length=80)
    entry_id = models.PositiveBigIntegerField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    erased_by_name = models.CharField(max_length=150)
    erased_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"entry {self.entry_id} on {self.blog_slug}, erased {self.erased_at:%Y-%m-%d %H:%M} by {self.erased_by_name}"


class Question(models.Model):
    """A reader's question to the newsroom (docs/questions.md). Never public
    while pending: it reaches readers only quoted in the entry that answers it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        ANSWERED = "answered", "Answered"
        DISMISSED = "dismissed", "Dismissed"

    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="questions")
    # The reader's chosen name; empty: quoted as "a reader".
    name = models.CharField(max_length=80, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answer = models.ForeignKey(Entry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["blog", "status", "created_at"], name="question_queue"),
            # Retention finds handled questions past their keep (posts/domain/retention.py).
            models.Index(fields=["handled_at"], name="question_handled"),
        ]

    def __str__(self) -> str:
        return f"question {self.pk} on {self.blog_id} ({self.status})"

    @property
    def asker(self) -> str:
        return self.name or "a reader"

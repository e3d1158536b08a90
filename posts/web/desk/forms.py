"""Desk forms: they parse and type-check what a reporter typed, nothing more.

The rules (who may publish, length limits, scheduling in the past, closed
blogs, stale versions) live in :mod:`posts.domain.services`; a view turns each
:class:`~posts.domain.errors.ServiceError` back into an error on the field it names
with :func:`add_service_error`, so the message appears next to that field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import forms
from django.utils import timezone

from posts.domain import fact_checks, selectors
from posts.domain.errors import ServiceError
from posts.domain.models import Author, Blog, Entry, Role


class BylineField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Author) -> str:
        return obj.name


class DeskForm(forms.Form):
    """Every field points at its help and error text (``aria-describedby``)
    and says when it is invalid, whether the error came from the form, the
    service, or the desk script filling the same error slot."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.HiddenInput):
                continue
            auto_id = self[name].auto_id
            described = [f"{auto_id}-error"]
            if field.help_text:
                described.insert(0, f"{auto_id}-help")
            field.widget.attrs.setdefault("aria-describedby", " ".join(described))

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self._errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"


class FactCheckFields(forms.Form):
    """The fact-check part of an entry form (templates/desk/_fact_check_fields.html).
    All empty: the entry is not a fact check."""

    fact_claim = forms.CharField(
        required=False, label="Claim", widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The claim, quoted as it was made.",
    )
    fact_claimant = forms.CharField(required=False, max_length=400, label="Made by")
    fact_claim_url = forms.CharField(
        required=False, max_length=1000, label="Where (link)",
        widget=forms.URLInput(attrs={"placeholder": "https://"}), help_text="Optional.",
    )
    fact_claim_date = forms.DateField(
        required=False, label="When", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Optional: the day the claim was made.",
    )
    fact_verdict = forms.ChoiceField(required=False, label="Verdict")

    # The service names a fact check's parts "fact_check.<part>".
    field_aliases = {f"fact_check.{part}": f"fact_{part}" for part in fact_checks.PARTS}
    field_aliases["fact_check"] = "fact_claim"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fact_verdict"].choices = [("", "Choose a verdict"), *((v, v) for v in fact_checks.verdicts())]

    def fact_check_value(self) -> dict | None:
        parts = {part: self.cleaned_data.get(f"fact_{part}") for part in fact_checks.PARTS}
        if not any(parts.values()):
            return None
        return parts

    @staticmethod
    def fact_check_initial(entry: Entry) -> dict:
        return {f"fact_{part}": getattr(entry, part) for part in fact_checks.PARTS}


class _EntryFields(FactCheckFields, DeskForm):
    headline = forms.CharField(
        required=False,
        max_length=400,  # the service's own limit (200) gives the precise message
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Optional.",
    )
    body = forms.CharField(
        required=False,  # the service says "The body cannot be empty."
        strip=False,
        widget=forms.Textarea(attrs={"rows": 7, "spellcheck": "true"}),
        help_text="Markdown. A link to a post on X, Bluesky or YouTube on a line of its own becomes an embed.",
    )
    kind = forms.ChoiceField(
        choices=[(Entry.Kind.UPDATE, "Update"), (Entry.Kind.SUMMARY, "Summary")],
        initial=Entry.Kind.UPDATE,
        required=False,
    )
    key_event = forms.BooleanField(required=False, label="Key event")
    pinned = forms.BooleanField(required=False, label="Pin to the top")
    authors = BylineField(queryset=Author.objects.none(), required=False, label="Byline")
    publish_at = forms.DateTimeField(
        required=False,
        label="Publish at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Only for Schedule: when to publish, in your own time zone.",
    )
    # Minutes to add to the typed local time to get UTC, as JavaScript's
    # Date.getTimezoneOffset() gives it. The desk script fills it; without
    # JavaScript the time is read in the server's TIME_ZONE.
    tz_offset = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=-1000, max_value=1000)

    def __init__(self, *args, blog: Blog, user, extra_authors=(), team: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = selectors.byline_people(blog=blog, user=user, extra=extra_authors, team=team)
        self.fields["authors"].queryset = Author.objects.filter(pk__in=[a.pk for a in choices])
        # Keep the team order (me first) rather than the queryset's.
        self.fields["authors"].choices = [(a.pk, a.name) for a in choices]

    def clean_publish_at(self) -> datetime | None:
        return self.local_time(self.cleaned_data.get("publish_at"))

    def local_time(self, value: datetime | None) -> datetime | None:
        """A typed local time in UTC, by the browser's offset when the desk script sent it."""
        return _local_time(value, self.data.get(self.add_prefix("tz_offset")))

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            "headline": data.get("headline", ""),
            "body": data.get("body", ""),
            "key_event": bool(data.get("key_event")),
            "pinned": bool(data.get("pinned")),
            "authors": [a.user for a in data.get("authors") or []] or None,
            "fact_check": self.fact_check_value(),
        }
        if data.get("kind"):
            kwargs["kind"] = data["kind"]
        return kwargs


class PhotoFields(forms.Form):
    """The photo part of the composer (templates/desk/_photo_fields.html): a
    file (picked, dropped or pasted: static/desk/desk.js puts it in the file
    input) and its words. The service checks them (docs/media.md)."""

    photo = forms.FileField(
        required=False, label="Photo file",
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}),
        help_text="JPEG, PNG, WebP or GIF. Choose a file, drop one here or paste one. Location data is removed.",
    )
    photo_alt = forms.CharField(
        required=False, max_length=1000, label="Alt text",
        help_text="Required with a photo: what it shows, for readers who cannot see it.",
    )
    photo_caption = forms.CharField(required=False, max_length=2000, label="Caption", help_text="Optional.")
    photo_credit = forms.CharField(required=False, max_length=400, label="Credit", help_text="Optional.")

    # The media service names its fields file, alt, caption, credit; the entry service image.
    photo_aliases = {"file": "photo", "image": "photo", "alt": "photo_alt", "caption": "photo_caption",
                     "credit": "photo_credit"}

    def photo_kwargs(self) -> dict | None:
        """The upload's arguments, or None when no photo came."""
        data = self.cleaned_data
        if not data.get("photo"):
            return None
        return {"file": data["photo"], "alt": data.get("photo_alt", ""), "caption": data.get("photo_caption", ""),
                "credit": data.get("photo_credit", "")}


class ComposerForm(PhotoFields, _EntryFields):
    """A new entry. ``action`` is the button pressed: publish, draft,
    schedule or submit (a contributor's "Submit for approval")."""

    # A reader poll (templates/desk/_poll_fields.html); all empty: none.
    poll_question = forms.CharField(required=False, max_length=600, label="Poll question")
    poll_options = forms.CharField(
        required=False, label="Poll options", widget=forms.Textarea(attrs={"rows": 4}),
        help_text="2 to 6 options, one a line.",
    )
    poll_closes_at = forms.DateTimeField(
        required=False, label="Voting closes",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional: without it the poll stays open until you close it.",
    )
    field_aliases = {
        **_EntryFields.field_aliases,
        "poll": "poll_question", "poll.question": "poll_question", "poll.options": "poll_options",
        "poll.closes_at": "poll_closes_at",
    }

    ACTIONS = ("publish", "draft", "schedule", "submit")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS], required=False, initial="publish")
    field_aliases = {**FactCheckFields.field_aliases, **PhotoFields.photo_aliases}

    OPTION_FIELDS = ("kind", "key_event", "pinned", "authors", "publish_at")

    def clean_action(self) -> str:
        return self.cleaned_data.get("action") or "publish"

    def clean_poll_closes_at(self) -> datetime | None:
        return self.local_time(self.cleaned_data.get("poll_closes_at"))

    def service_kwargs(self) -> dict:
        kwargs = super().service_kwargs()
        data = self.cleaned_data
        question = data.get("poll_question") or ""
        options = [line for line in (data.get("poll_options") or "").splitlines() if line.strip()]
        if question.strip() or options:
            kwargs["poll"] = {"question": question, "options": options, "closes_at": data.get("poll_closes_at")}
        return kwargs

    @property
    def options_open(self) -> bool:
        """Show the folded options when one of them needs the reporter's eye."""
        return any(name in self.errors for name in self.OPTION_FIELDS)


class EditForm(PhotoFields, _EntryFields):
    """An existing entry; ``version`` is the one the reporter started from.
    A new photo replaces the entry's; ``photo_remove`` takes it off."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    photo_remove = forms.BooleanField(required=False, label="Remove the photo")
    field_aliases = {**FactCheckFields.field_aliases, **PhotoFields.photo_aliases}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["photo"].help_text = (
            "JPEG, PNG, WebP or GIF: added, or put in place of the entry's photo. Location data is removed."
        )


class BlogCreateForm(DeskForm):
    title = forms.CharField(max_length=400)
    standfirst = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown: a short summary shown under the title.",
    )
    slug = forms.CharField(
        required=False, max_length=200,
        help_text="Optional: letters, digits and hyphens for the address /live/<slug>/. Made from the title if left empty.",
    )
    # Draft by default, like the API: a blog goes public when an editor says so.
    status = forms.ChoiceField(
        choices=[(Blog.Status.DRAFT, "Draft (not public yet)"), (Blog.Status.LIVE, "Live now")],
        initial=Blog.Status.DRAFT,
        required=False,
    )

    def clean_status(self) -> str:
        return self.cleaned_data.get("status") or Blog.Status.DRAFT


class CloseForm(DeskForm):
    close_headline = forms.CharField(required=False, max_length=400, label="Closing headline")
    close_body = forms.CharField(
        required=False, strip=False, label="Closing note",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Pinned at the top of the page when the blog closes.",
    )

    # The service names these fields "headline"/"body".
    field_aliases = {"headline": "close_headline", "body": "close_body"}


class TeamMemberForm(DeskForm):
    username = forms.CharField(max_length=150, label="Username")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REPORTER)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        self.member = selectors.find_user(username=username)
        if self.member is None:
            raise forms.ValidationError(f"No active user is called '{username}'.")
        return username


class ReturnForm(DeskForm):
    """An editor sends a submitted draft back with a note."""

    note = forms.CharField(
        required=False, strip=False, label="Note to the writer",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What to change before it can go out.",
    )


class AnswerForm(DeskForm):
    """A reporter's answer to a reader's question: published as an entry
    that quotes the question first."""

    field_aliases = {"body": "answer", "headline": "answer_headline"}

    answer = forms.CharField(
        required=False, strip=False, label="Your answer",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Published as a new entry, under the reader's question.",
    )
    answer_headline = forms.CharField(required=False, max_length=400, label="Headline (optional)")
    answer_key_event = forms.BooleanField(required=False, label="Key event")


def _local_time(value: datetime | None, offset) -> datetime | None:
    """A ``datetime-local`` value in the browser's zone (``tz_offset``
    minutes, as the desk script sends it), else in ``TIME_ZONE``."""
    if value is None:
        return None
    try:
        minutes = int(offset) if offset not in (None, "") else None
    except ValueError:
        minutes = None
    if minutes is not None and abs(minutes) <= 1000:
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        return (naive + timedelta(minutes=minutes)).replace(tzinfo=UTC)
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class BlogSettingsForm(DeskForm):
    """An editor's settings of a blog: readers' questions, and (drafts only)
    the time it opens by itself."""

    questions_enabled = forms.BooleanField(required=False, label="Readers may send questions")
    opens_at = forms.DateTimeField(
        required=False,
        label="Opens at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: not scheduled. Readers see a countdown until then; it goes live by itself.",
    )
    tz_offset = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=-1000, max_value=1000)

    def clean_opens_at(self) -> datetime | None:
        return _local_time(self.cleaned_data.get("opens_at"), self.data.get(self.add_prefix("tz_offset")))


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Attach a service's message to the field it names, else to the form."""
    aliases = getattr(form, "field_aliases", {})
    field = aliases.get(error.field, error.field)
    form.add_error(field if field in form.fields else None, error.message)


def local_input(value: datetime | None) -> str:
    """A stored time as a ``datetime-local`` value in the server's zone."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def default_schedule_time() -> str:
    return local_input(timezone.now() + timedelta(minutes=15))


"""Django admin for editors. Saving a blog or entry goes through the
services, so an admin edit is versioned and announced like any other."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from posts.delivery import overload, pushmode
from posts.domain import services
from posts.domain.errors import ServiceError
from posts.domain.models import (
    ApiToken,
    Author,
    Blog,
    Entry,
    EntryRevision,
    Erasure,
    Event,
    Media,
    Membership,
    PushSubscription,
    WebhookAttempt,
    WebhookDelivery,
    WebhookPartner,
)
from posts.domain.text import clean_text


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class ServiceForm(forms.ModelForm):
    """A ModelForm whose clean() performs the change through the services.

    The admin validates and saves inside one transaction; running the
    service in clean() means a refusal (stale version, closed blog, role)
    comes back as an error next to the field with the editor's input kept.
    Model validation is skipped: the services validate, and the row they
    saved would otherwise collide with the unsaved instance.
    """

    request = None
    result = None

    def perform(self, data: dict):
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.result = self.perform(data)
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data

    def _post_clean(self):
        pass


class ServiceAdminMixin:
    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def save_model(self, request, obj, form, change):
        saved = type(obj).objects.get(pk=form.result.pk)
        obj.__dict__.update(saved.__dict__)

    def save_related(self, request, form, formsets, change):
        # Relations were set by the service; inlines here are read-only or
        # ordinary (team memberships).
        for formset in formsets:
            formset.instance = form.instance
            self.save_formset(request, form, formset, change=change)


class BlogForm(ServiceForm):
    def perform(self, data):
        user = self.request.user
        if self.instance.pk is None:
            return services.blog_create(
                user=user, title=data["title"], standfirst=data.get("standfirst", ""),
                status=data["status"], slug=data.get("slug") or None,
                coverage_start=data.get("coverage_start"), language=data.get("language") or None,
                opens_at=data.get("opens_at"), questions_enabled=bool(data.get("questions_enabled")),
            )
        editable = {"title", "standfirst", "status", "coverage_start", "language", "opens_at", "questions_enabled"}
        fields = {k: data[k] for k in self.changed_data if k in editable}
        return services.blog_update(blog=Blog.objects.get(pk=self.instance.pk), user=user, **fields)


@admin.register(Blog)
class BlogAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = BlogForm
    change_list_template = "admin/posts/blog/change_list.html"
    list_display = ["title", "slug", "status", "coverage_start", "coverage_end", "last_seq", "readers"]
    actions = ["readers_to_polling", "readers_to_streams", "readers_to_default"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    readonly_fields = ["last_seq", "coverage_end", "created_at", "modified_at"]
    inlines = [MembershipInline]
    fields = [
        "title", "slug", "standfirst", "status", "language", "opens_at", "questions_enabled",
        "coverage_start", "coverage_end", "last_seq",
    ]

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        return ro + ["slug"] if obj is not None else ro

    # --- The overload switch (docs/overload.md) ------------------------------

    @admin.display(description="readers")
    def readers(self, obj):
        pace = pushmode.pace(obj.slug)
        return "streams" if pace.mode == pushmode.SSE else f"polling every {pace.poll_ms // 1000} s"

    def _switch(self, request, mode, slug=None) -> bool:
        try:
            overload.readers_switch(mode=mode, slug=slug)
        except OSError as exc:
            self.message_user(request, f"Not switched: {exc} (the switch needs Redis).", messages.ERROR)
            return False
        return True

    @admin.action(description="Move readers of the selected blogs to polling (overload)", permissions=["change"])
    def readers_to_polling(self, request, queryset):
        if all(self._switch(request, pushmode.POLL, blog.slug) for blog in queryset):
            self.message_user(request, f"Readers of {queryset.count()} blog(s) now poll.")

    @admin.action(description="Move readers of the selected blogs back to live streams", permissions=["change"])
    def readers_to_streams(self, request, queryset):
        if all(self._switch(request, pushmode.SSE, blog.slug) for blog in queryset):
            self.message_user(request, f"Readers of {queryset.count()} blog(s) stream again.")

    @admin.action(description="Selected blogs follow the every-blog setting again", permissions=["change"])
    def readers_to_default(self, request, queryset):
        if all(self._switch(request, None, blog.slug) for blog in queryset):
            self.message_user(request, f"{queryset.count()} blog(s) follow the every-blog setting.")

    def get_urls(self):
        urls = [path("readers/", self.admin_site.admin_view(self.readers_view), name="posts_blog_readers")]
        return urls + super().get_urls()

    def readers_view(self, request):
        """Every blog's readers: streams or polling (one switch for all)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            mode = request.POST.get("mode")
            if mode not in (*pushmode.MODES, "default"):
                self.message_user(request, "Choose streams, polling or the setting.", messages.ERROR)
            elif self._switch(request, None if mode == "default" else mode):
                self.message_user(request, f"Every blog's readers: {pushmode.pace('').mode}.")
            return redirect("admin:posts_blog_readers")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Readers of every blog: streams or polling",
            "pace": pushmode.pace(""),
        }
        return TemplateResponse(request, "admin/posts/blog/readers.html", context)


class RevisionInline(admin.TabularInline):
    model = EntryRevision
    extra = 0
    can_delete = False
    fields = ["version", "status", "headline", "body", "edited_by", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class EntryForm(ServiceForm):
    def perform(self, data):
        user = self.request.user
        authors = list(data.get("authors") or []) or None
        if self.instance.pk is None:
            return services.entry_create(
                blog=data["blog"], user=user, body=data["body"], headline=data.get("headline", ""),
                kind=data["kind"], key_event=data["key_event"], pinned=data["pinned"],
                status=data["status"], publish_at=data.get("publish_at"), authors=authors,
            )
        current = Entry.objects.select_related("blog").get(pk=self.instance.pk)
        editable = {"headline", "body", "kind", "key_event", "pinned", "status", "publish_at"}
        changes = {k: data[k] for k in self.changed_data if k in editable}
        if "authors" in self.changed_data:
            changes["authors"] = authors or []
        return services.entry_edit(entry=current, user=user, version=current.version, **changes)


@admin.register(Entry)
class EntryAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = EntryForm
    list_display = ["__str__", "blog", "kind", "status", "key_event", "pinned", "published_at", "updated_at"]
    list_filter = ["status", "kind", "key_event", "pinned", "blog"]
    search_fields = ["headline", "body"]
    autocomplete_fields = ["authors"]
    readonly_fields = ["published_at", "updated_at", "version", "awaiting_approval"]
    fields = [
        "blog", "kind", "headline", "body", "authors", "status", "publish_at",
        "key_event", "pinned", "awaiting_approval", "published_at", "updated_at", "version",
    ]
    inlines = [RevisionInline]
    actions = ["approve_selected", "delete_selected_entries"]

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        return ro + ["blog"] if obj is not None else ro

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # Deleting goes through the service (a soft delete readers are told of).
        return False

    @admin.action(description="Approve (publish) selected drafts")
    def approve_selected(self, request, queryset):
        self._run(request, queryset, lambda e: services.entry_approve(entry=e, user=request.user))

    @admin.action(description="Delete selected entries (readers are told)")
    def delete_selected_entries(self, request, queryset):
        self._run(request, queryset, lambda e: services.entry_delete(entry=e, user=request.user))

    def _run(self, request, queryset, action):
        done = 0
        for entry in queryset.select_related("blog"):
            try:
                action(entry)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"Entry {entry.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} entr{'y' if done == 1 else 'ies'} done.")


class AuthorForm(forms.ModelForm):
    class Meta:
        model = Author
        fields = ["user", "display_name", "role"]

    def clean_display_name(self):
        try:
            return clean_text(self.cleaned_data.get("display_name") or "", field="display_name").strip()
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    form = AuthorForm
    list_display = ["name", "user", "role"]
    list_filter = ["role"]
    search_fields = ["display_name", "user__username", "user__first_name", "user__last_name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = services.token_create(user=obj.user, name=obj.name)
        obj.pk = token.pk
        obj.shown_once = key

    def response_add(self, request, obj, post_url_continue=None):
        return show_once(request, self, obj, "API token", obj.shown_once)


def show_once(request, model_admin, obj, what: str, secret: str) -> TemplateResponse:
    """The add view's answer carries a new secret itself, so it is never put
    in a message (a cookie or the session) that would keep it."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta, "object": obj, "what": what, "secret": secret,
        "title": f"{what} created",
    }
    response = TemplateResponse(request, "admin/posts/secret_once.html", context)
    response["Cache-Control"] = "no-store"
    return response


class ErasureForm(ServiceForm):
    class Meta:
        model = Erasure
        fields = ["entry_id", "reason"]
        labels = {"entry_id": "Entry id"}
        help_texts = {
            "entry_id": "The entry to erase (deleted or not): its text leaves revisions, events, "
                        "webhook records and caches for good.",
            "reason": "Why (the court order or complaint). Kept in the audit record with your name.",
        }

    def perform(self, data):
        entry = Entry.objects.select_related("blog").filter(pk=data["entry_id"]).first()
        if entry is None:
            raise ServiceError(f"There is no entry {data['entry_id']}.", field="entry_id")
        return services.entry_erase(entry=entry, user=self.request.user, reason=data["reason"])


@admin.register(Erasure)
class ErasureAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Legal erasures: add one to erase an entry; the list is the audit log."""

    form = ErasureForm
    list_display = ["entry_id", "blog_slug", "erased_by_name", "erased_at", "reason"]
    search_fields = ["blog_slug", "erased_by_name", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["entry_id", "blog_slug", "erased_by_name", "erased_at", "reason"] if obj else []

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["blog", "seq", "type", "created_at", "fanned_out_at"]
    list_filter = ["type", "blog"]
    readonly_fields = ["blog", "seq", "type", "payload", "created_at", "fanned_out_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "status_code", "error", "duration_ms"]


class WebhookPartnerForm(ServiceForm):
    """Registers or edits through the services, so a refused URL is an error
    next to the field and nothing is saved."""

    secret = None

    def perform(self, data):
        user = self.request.user
        blogs = list(data.get("blogs") or [])
        if self.instance.pk is None:
            partner, self.secret = services.webhook_partner_create(
                user=user, url=data["url"], name=data.get("name", ""), blogs=blogs,
                event_types=data.get("event_types") or [], active=data.get("active", True),
            )
            return partner
        editable = {"url", "name", "event_types", "active", "blogs"}
        changes = {k: data[k] for k in self.changed_data if k in editable}
        if "blogs" in changes:
            changes["blogs"] = list(changes["blogs"])
        return services.webhook_partner_update(
            partner=WebhookPartner.objects.get(pk=self.instance.pk), user=user, **changes
        )


@admin.register(WebhookPartner)
class WebhookPartnerAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Partners are registered and edited through the services (URL guard,
    secret shown once); paused partners show why, and can be resumed."""

    form = WebhookPartnerForm

    list_display = ["__str__", "url", "active", "paused_at", "pause_reason", "consecutive_failures", "last_success_at"]
    list_filter = ["active"]
    fields = [
        "name", "url", "blogs", "event_types", "active",
        "paused_at", "pause_reason", "consecutive_failures", "failing_since", "last_success_at",
    ]
    readonly_fields = ["paused_at", "pause_reason", "consecutive_failures", "failing_since", "last_success_at"]
    filter_horizontal = ["blogs"]
    actions = ["pause_selected", "resume_selected"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        obj.shown_once = form.secret

    def response_add(self, request, obj, post_url_continue=None):
        return show_once(request, self, obj, "Webhook partner", obj.shown_once)

    @admin.action(description="Pause deliveries to selected partners")
    def pause_selected(self, request, queryset):
        for partner in queryset:
            services.webhook_partner_pause(
                partner=partner, user=request.user, reason=f"Paused by {request.user.get_username()} in the admin."
            )

    @admin.action(description="Resume selected partners (owed deliveries are sent)")
    def resume_selected(self, request, queryset):
        for partner in queryset:
            services.webhook_partner_resume(partner=partner, user=request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["msg_id", "partner", "event", "status", "attempts", "last_status_code", "delivered_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["blog", "endpoint", "created_at"]


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    """Photos, to look up (uploads go through the desk or the API; a takedown,
    a legal erase or retention removes them: docs/media.md)."""

    list_display = ["pk", "alt", "blog", "width", "height", "content_type", "withheld", "created_at"]
    list_filter = ["withheld", "content_type"]
    search_fields = ["alt", "caption", "credit"]
    readonly_fields = [f.name for f in Media._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class LoginAttemptAdmin(AccessAttemptAdmin):
    """django-axes' failed log-ins, with an unlock for the person locked out."""

    actions = [*AccessAttemptAdmin.actions, "unlock_selected"]

    @admin.action(description="Unlock: forget the failed log-ins of these usernames and addresses")
    def unlock_selected(self, request, queryset):
        removed = 0
        for username, address in set(queryset.values_list("username", "ip_address")):
            removed += axes_reset(username=username) if username else 0
            removed += axes_reset(ip=address) if address else 0
        self.message_user(request, f"Unlocked ({removed} failed-log-in record{'s' if removed != 1 else ''} removed).")

"""Every change a reader can see: one function per change, one transaction
with its event (docs/architecture.md). Import from here, not the modules."""

from .blogs import blog_close, blog_create, blog_open, blog_update, open_due_blogs
from .embeds import entry_embeds_capture
from .entries import (
    entry_approve,
    entry_create,
    entry_edit,
    entry_pin,
    entry_publish,
    entry_return,
    entry_schedule,
    entry_set_key_event,
    entry_submit,
    publish_due_entries,
)
from .idempotency import (
    idempotency_claim,
    idempotency_record,
    idempotency_release,
    token_scope,
    user_scope,
)
from .media import media_discard, media_make_renditions, media_upload, store_media_from_bytes
from .outbox import UNSET, hand_off
from .partners import (
    generate_secret,
    webhook_partner_create,
    webhook_partner_delete,
    webhook_partner_pause,
    webhook_partner_resume,
    webhook_partner_update,
)
from .people import (
    author_ensure,
    author_on_login,
    team_remove_member,
    team_set_member,
    token_create,
    token_revoke,
    token_user,
)
from .polls import poll_close, poll_vote, polls_flush
from .questions import question_answer, question_ask, question_dismiss, quote_question
from .subscriptions import push_subscribe, push_unsubscribe
from .takedown import entry_delete, entry_erase, tombstone

__all__ = [
    "UNSET",
    "idempotency_claim",
    "idempotency_record",
    "idempotency_release",
    "token_scope",
    "user_scope",
    "author_ensure",
    "author_on_login",
    "blog_close",
    "blog_create",
    "blog_open",
    "blog_update",
    "entry_approve",
    "entry_create",
    "entry_delete",
    "entry_edit",
    "entry_embeds_capture",
    "entry_erase",
    "entry_pin",
    "entry_publish",
    "entry_return",
    "entry_schedule",
    "entry_set_key_event",
    "entry_submit",
    "generate_secret",
    "hand_off",
    "open_due_blogs",
    "media_discard",
    "media_make_renditions",
    "media_upload",
    "store_media_from_bytes",
    "poll_close",
    "poll_vote",
    "polls_flush",
    "publish_due_entries",
    "question_answer",
    "question_ask",
    "question_dismiss",
    "quote_question",
    "push_subscribe",
    "push_unsubscribe",
    "team_remove_member",
    "team_set_member",
    "token_create",
    "token_revoke",
    "token_user",
    "tombstone",
    "webhook_partner_create",
    "webhook_partner_delete",
    "webhook_partner_pause",
    "webhook_partner_resume",
    "webhook_partner_update",
]

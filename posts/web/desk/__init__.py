"""The reporter desk (``/desk/``): where newsroom staff write a live blog.

Decisions, in one place:

- Pages live under ``/desk/blogs/<slug>/`` (and ``/desk/new-blog/``) so a
  blog's slug can never shadow a desk page such as ``login``.
- Plain forms first: every action is a POST that redirects back (or
  re-renders with errors and the service's status code). ``static/desk/
  desk.js`` enhances the same forms with fetch + ``Accept: application/json``.
- All rules are the services'; the desk maps ``ServiceError.field`` onto the
  form field so the message sits next to it (``aria-describedby``).
- A stale edit (409) keeps the reporter's text in the form, shows the saved
  version beside it and moves the form's ``version`` on, so "Save my
  version" re-applies deliberately; "keep theirs" drops it.
- The timeline follows ``/desk/blogs/<slug>/state/`` (polled every 5 s and
  at once on any SSE event from ``/live/<slug>/events``): drafts, schedules
  and approvals make no reader events, so SSE alone cannot keep a desk right.
- Bylines offer the blog's team (plus the writer and the entry's current
  authors); leaving every box empty means "me".
- A scheduled time typed in the composer is the reporter's local time (the
  script sends the browser's UTC offset); without JavaScript it is read in
  ``settings.TIME_ZONE``.
- The reader count is ``posts.channel.reader_count``: open desks listen on
  the same SSE channel with ``?desk=1``, which leaves them out of the count.
- The desk lists the newest 200 non-deleted entries of a blog.
"""

/* The live page's reader script: progressive enhancement, no build step.
 *
 * Without it the page is complete (server-rendered, links for older
 * updates). With it: times in the reader's own zone; new, edited and
 * deleted entries applied in place from the live channel (SSE at
 * /live/<slug>/events) or, when that is unavailable, by polling
 * /api/blogs/<slug>/updates?since=<seq> with jitter and backoff; a
 * "N new updates" button instead of moving the page when the reader has
 * scrolled down; older updates loaded in place; closed blogs stop updating.
 *
 * The server sets the pace: each /updates answer carries "poll_ms" (how
 * often to poll) and "push" ("poll" when operators moved readers off
 * streams: the stream is closed and the page polls at that pace; a stream
 * the server answers 204, or that sends an "event: pace" saying poll, also
 * ends in polling; a later "push": "sse" opens a stream again).
 *
 * Test hooks: window.LIVEBLOG_TRANSPORT = "poll" skips SSE;
 * window.LIVEBLOG_POLL_MS sets the base polling interval (and wins over
 * the server's).
 */
(function () {
  "use strict";

  var POLL_MS = window.LIVEBLOG_POLL_MS || 5000;
  var POLL_HIDDEN_MS = 30000;
  var MAX_BACKOFF_MS = 60000;
  // A dropped stream is resumed after a random 0.5-1.5x this (backing off):
  // every reader of the blog loses it at the same instant when an edge
  // restarts, and EventSource's own retry would bring them all back at once.
  var RECONNECT_MS = 3000;
  // A stream the server ends this soon after it opened is a replay that hands
  // the reader over (docs/events.md): EventSource comes back as asked.
  var HANDOVER_MS = 3000;
  var SCROLL_THRESHOLD = 200;

  // --- Times in the reader's zone ----------------------------------------

  var timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var dateTimeFmt = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
  });
  var fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function localizeTime(el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) return;
    var style = el.getAttribute("data-local");
    var text = style === "datetime" || !sameDay(when, new Date()) ? dateTimeFmt.format(when) : timeFmt.format(when);
    el.textContent = text;
    el.title = fullFmt.format(when);
  }

  function localizeTimes(root) {
    var times = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < times.length; i++) localizeTime(times[i]);
  }

  localizeTimes(document);

  // --- "4 min ago" beside each time, kept fresh ----------------------------

  var agoFmt = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" }) : null;

  function ago(when, now) {
    var seconds = Math.round((when - now) / 1000);
    var abs = Math.abs(seconds);
    if (abs < 45) return "just now";
    if (!agoFmt) return "";
    if (abs < 3600) return agoFmt.format(Math.round(seconds / 60), "minute");
    if (abs < 86400) return agoFmt.format(Math.round(seconds / 3600), "hour");
    return agoFmt.format(Math.round(seconds / 86400), "day");
  }

  function refreshAgo(root) {
    var now = Date.now();
    var spans = (root || document).querySelectorAll("[data-ago]");
    for (var i = 0; i < spans.length; i++) {
      var when = Date.parse(spans[i].getAttribute("data-ago"));
      if (!isNaN(when)) spans[i].textContent = ago(when, now);
    }
  }

  refreshAgo(document);
  setInterval(function () { refreshAgo(document); }, 30000);

  var main = document.querySelector("main[data-slug]");
  if (!main) return;

  // --- Rendering an entry (same markup as templates/posts/_entry.html) ----

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function permalinkPath(entry) {
    try { return new URL(entry.url).pathname; } catch (e) { return entry.url; }
  }

  function byline(authors) {
    var names = (authors || []).map(function (a) { return a.name; });
    if (names.length <= 1) return names.join("");
    return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  function timeEl(iso) {
    var t = el("time", { datetime: iso, "data-local": "time" }, [iso]);
    localizeTime(t);
    return t;
  }

  function hostOf(url) {
    try { return new URL(url).hostname; } catch (e) { return url; }
  }

  function longDate(isoDate) {
    var d = new Date(isoDate + "T00:00:00Z");
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  // The claim -> verdict card (templates/posts/_fact_check.html).
  function renderFactCheck(check, lang) {
    var source = [check.claimant];
    if (check.claim_date) {
      source.push(", ", el("time", { datetime: check.claim_date }, [longDate(check.claim_date)]));
    }
    if (check.claim_url) {
      source.push(" (", el("a", { href: check.claim_url, rel: "nofollow noopener noreferrer" }, [hostOf(check.claim_url)]), ")");
    }
    function row(name, label, value, attrs) {
      return el("div", { "class": "fact-check__row fact-check__" + name }, [el("dt", {}, [label]), el("dd", attrs || {}, value)]);
    }
    return el("div", { "class": "fact-check", "data-fact-check": "" }, [
      el("p", { "class": "fact-check__title" }, ["Fact check"]),
      el("dl", { "class": "fact-check__card" }, [
        row("claim", "Claim", [el("q", {}, [check.claim])], { lang: lang }),
        row("source", "Made by", source),
        row("verdict", "Verdict", [el("strong", { "class": "fact-check__label" }, [check.verdict])])
      ])
    ]);
  }

  // The entry's photo (templates/posts/_photo.html): WebP and JPEG srcsets
  // once the renditions exist, width and height against layout shift.
  var PHOTO_SIZES = "(min-width: 44rem) 42rem, calc(100vw - 2rem)";

  function srcset(renditions, type) {
    return renditions.filter(function (r) { return r.type === type; })
      .map(function (r) { return r.url + " " + r.width + "w"; }).join(", ");
  }

  function renderPhoto(image, lang) {
    var renditions = image.renditions || [];
    var jpegs = renditions.filter(function (r) { return r.type === "image/jpeg"; });
    var src = jpegs.length ? jpegs[jpegs.length - 1].url : image.url;
    var imgAttrs = { src: src, width: image.width, height: image.height, alt: image.alt, loading: "lazy", decoding: "async" };
    var webp = srcset(renditions, "image/webp");
    var jpeg = srcset(renditions, "image/jpeg");
    if (jpeg) { imgAttrs.srcset = jpeg; imgAttrs.sizes = PHOTO_SIZES; }
    var picture = el("picture", {}, []);
    if (webp) picture.appendChild(el("source", { type: "image/webp", srcset: webp, sizes: PHOTO_SIZES }));
    picture.appendChild(el("img", imgAttrs));
    var figure = el("figure", { "class": "entry__photo" }, [picture]);
    if (image.caption || image.credit) {
      var caption = el("figcaption", { "class": "entry__caption" });
      if (image.caption) caption.appendChild(el("span", { lang: lang }, [image.caption]));
      if (image.credit) caption.append(" ", el("span", { "class": "entry__credit" }, [image.credit]));
      figure.appendChild(caption);
    }
    return figure;
  }

  function badge(kind, text) { return el("span", { "class": "badge badge--" + kind }, [text]); }

  function renderEntry(entry) {
    var id = entry.id;
    var classes = ["entry", "entry--" + entry.kind];
    if (entry.key_event) classes.push("entry--key");
    if (entry.pinned) classes.push("entry--pinned");
    var labelled = "entry-" + id + "-time" + (entry.headline ? " entry-" + id + "-headline" : "");
    var agoSpan = el("span", { "class": "entry__ago", "data-ago": entry.published_at });
    var meta = el("header", { "class": "entry__meta" }, [
      el("a", { "class": "entry__time", id: "entry-" + id + "-time", href: permalinkPath(entry), title: "Link to this update" },
        [timeEl(entry.published_at)]),
      agoSpan
    ]);
    refreshAgo(meta);
    if (entry.pinned) meta.appendChild(badge("pinned", "Pinned"));
    if (entry.kind === "summary") meta.appendChild(badge("summary", "Summary"));
    if (entry.kind === "closing") meta.appendChild(badge("closing", "Closing note"));
    if (entry.key_event) meta.appendChild(badge("key", "Key event"));
    var article = el("article", {
      id: "entry-" + id, "class": classes.join(" "), "data-entry-id": id, "data-version": entry.version,
      "data-published": entry.published_at, "aria-labelledby": labelled, tabindex: "-1"
    }, [meta]);
    var lang = main.getAttribute("data-lang");
    if (entry.headline) {
      article.appendChild(el("h3", { "class": "entry__headline", id: "entry-" + id + "-headline", lang: lang }, [entry.headline]));
    }
    if (entry.image) article.appendChild(renderPhoto(entry.image, lang));
    if (entry.fact_check) article.appendChild(renderFactCheck(entry.fact_check, lang));
    var body = el("div", { "class": "entry__body", lang: lang });
    body.innerHTML = entry.body_html; // sanitized on the server (nh3)
    enhanceEmbeds(body);
    article.appendChild(body);
    // A poll's form (static/live/polls.js fills in and keeps its tallies).
    if (entry.poll && window.liveblogPolls) article.appendChild(window.liveblogPolls.render(entry.poll, entry, slug));
    var footer = el("footer", { "class": "entry__footer" });
    var names = byline(entry.authors);
    if (names) footer.appendChild(el("p", { "class": "entry__byline" }, ["By " + names]));
    if (entry.updated_at) {
      footer.appendChild(el("p", { "class": "entry__updated" }, ["Updated ", timeEl(entry.updated_at)]));
    }
    article.appendChild(footer);
    return article;
  }

  // --- The page's parts ----------------------------------------------------

  var slug = main.getAttribute("data-slug");
  var seq = parseInt(main.getAttribute("data-seq"), 10) || 0;
  var live = main.getAttribute("data-live") === "true";
  var timeline = main.querySelector("[data-timeline]");
  var pinnedSlot = main.querySelector("[data-pinned-slot]");
  var announcer = main.querySelector("[data-announcer]");
  var newBox = main.querySelector("[data-new-updates]");
  var newButton = main.querySelector("[data-new-updates-button]");
  var keyNav = main.querySelector("[data-key-events]");
  var hasOlder = main.getAttribute("data-has-older") === "true";
  // The widget keeps only its latest N entries (/live/<slug>/embed/).
  var maxEntries = parseInt(main.getAttribute("data-max-entries"), 10) || 0;
  var pending = []; // entries held back while the reader is scrolled down

  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function publishedKey(node) {
    return [Date.parse(node.getAttribute("data-published")) || 0, parseInt(node.getAttribute("data-entry-id"), 10)];
  }

  function newer(a, b) { return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]); }

  /* Put an article where it belongs in the timeline (newest first). An
   * entry older than everything loaded, while older pages exist, belongs to
   * a page the reader has not loaded: leave it there. */
  function placeInTimeline(article) {
    var key = publishedKey(article);
    var items = timeline.querySelectorAll("article[data-entry-id]");
    for (var i = 0; i < items.length; i++) {
      if (newer(key, publishedKey(items[i]))) {
        timeline.insertBefore(article, items[i]);
        return true;
      }
    }
    if (hasOlder && items.length) return false;
    timeline.appendChild(article);
    return true;
  }

  function clearEmpty() {
    var empty = timeline.querySelector("[data-empty]");
    if (empty) empty.remove();
  }

  function setPinned(article) {
    if (!pinnedSlot) return;
    var current = pinnedSlot.querySelector("article");
    if (current && current !== article) {
      current.classList.remove("entry--pinned");
      var b = current.querySelector(".badge--pinned");
      if (b) b.remove();
      placeInTimeline(current);
    }
    pinnedSlot.appendChild(article);
    pinnedSlot.hidden = false;
  }

  function syncPinnedSlot() {
    if (pinnedSlot) pinnedSlot.hidden = !pinnedSlot.querySelector("article");
  }

  function scrolledDown() {
    var top = timeline.getBoundingClientRect().top + window.scrollY;
    return window.scrollY > Math.max(top - 80, SCROLL_THRESHOLD);
  }

  function showPending() {
    if (!newBox) return;
    if (!pending.length) { newBox.hidden = true; return; }
    newButton.textContent = pending.length === 1 ? "1 new update" : pending.length + " new updates";
    newBox.hidden = false;
  }

  function flushPending(focus) {
    var first = null;
    pending.sort(function (a, b) { return publishedKey(a) < publishedKey(b) ? -1 : 1; });
    while (pending.length) {
      var article = pending.shift();
      clearEmpty();
      placeInTimeline(article);
      first = article;
    }
    showPending();
    if (focus && first) {
      timeline.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
    }
  }

  function findPending(id) {
    for (var i = 0; i < pending.length; i++) {
      if (pending[i].getAttribute("data-entry-id") === String(id)) return i;
    }
    return -1;
  }

  // --- Key events list -------------------------------------------------------

  function keyEventItem(entry) {
    var onPage = document.getElementById("entry-" + entry.id);
    var href = onPage ? "#entry-" + entry.id : permalinkPath(entry) + "#entry-" + entry.id;
    // The server's own plain-text summary, as the page renders it on reload.
    var text = entry.summary_text || entry.headline || "Key event";
    return el("li", { "data-key-event": entry.id }, [
      el("a", { href: href, "data-entry-link": entry.id }, [timeEl(entry.published_at), " ", el("span", {}, [text])])
    ]);
  }

  function syncKeyEvent(entry, present) {
    if (!keyNav) return;
    var list = keyNav.querySelector("ol");
    var old = list.querySelector('[data-key-event="' + entry.id + '"]');
    if (!present) {
      if (old) old.remove();
    } else {
      var item = keyEventItem(entry);
      if (old) {
        list.replaceChild(item, old);
      } else {
        var when = Date.parse(entry.published_at);
        var items = list.querySelectorAll("li");
        var placed = false;
        for (var i = 0; i < items.length; i++) {
          var t = items[i].querySelector("time");
          if (t && Date.parse(t.getAttribute("datetime")) < when) {
            list.insertBefore(item, items[i]);
            placed = true;
            break;
          }
        }
        if (!placed) list.appendChild(item);
      }
    }
    keyNav.hidden = !list.querySelector("li");
  }

  // --- Applying events ---------------------------------------------------------

  function applyEntry(entry, isNew) {
    var existing = document.getElementById("entry-" + entry.id);
    var pendingIndex = findPending(entry.id);
    if (entry.status !== "published") {
      removeEntry(entry);
      return;
    }
    var article = renderEntry(entry);
    syncKeyEvent(entry, entry.key_event);
    if (pendingIndex >= 0) {
      pending[pendingIndex] = article;
      return;
    }
    if (existing) {
      if (entry.pinned && pinnedSlot) {
        existing.remove();
        setPinned(article);
      } else if (existing.parentNode === pinnedSlot) {
        existing.remove();
        placeInTimeline(article);
      } else {
        existing.parentNode.replaceChild(article, existing);
      }
      syncPinnedSlot();
      return;
    }
    if (entry.pinned && pinnedSlot) {
      setPinned(article);
      announce("Pinned: " + (entry.headline || "an update"));
      return;
    }
    if (isNew && scrolledDown()) {
      pending.push(article);
      showPending();
      announce(pending.length === 1 ? "1 new update" : pending.length + " new updates");
      return;
    }
    clearEmpty();
    if (placeInTimeline(article) && isNew) {
      article.classList.add("entry--fresh");
      announce("New update" + (entry.headline ? ": " + entry.headline : ""));
    }
    trimTimeline();
  }

  function trimTimeline() {
    if (!maxEntries) return;
    var items = timeline.querySelectorAll("article[data-entry-id]");
    for (var i = maxEntries; i < items.length; i++) items[i].remove();
  }

  function removeEntry(entry) {
    var existing = document.getElementById("entry-" + entry.id);
    if (existing) existing.remove();
    var i = findPending(entry.id);
    if (i >= 0) { pending.splice(i, 1); showPending(); }
    syncKeyEvent(entry, false);
    syncPinnedSlot();
  }

  function applyBlog(blog) {
    var title = main.querySelector("[data-blog-title]");
    if (title && !title.querySelector("a")) title.textContent = blog.title;
    var standfirst = main.querySelector("[data-blog-standfirst]");
    if (standfirst) standfirst.innerHTML = blog.standfirst_html; // sanitized on the server
    if (blog.status === "closed") closeBlog(blog);
  }

  /* The header reads "From <start> to <end>", and the opt-in to
     notifications goes: nothing more will be sent. */
  function closeCoverage(blog) {
    var push = document.querySelector("[data-push-subscribe]");
    if (push) push.remove();
    if (!blog || !blog.coverage_end) return;
    var statusLine = main.querySelector(".blog-header__status");
    if (!statusLine) return;
    var since = statusLine.querySelector(".blog-header__since");
    if (!since) {
      since = el("span", { "class": "blog-header__since" });
      statusLine.appendChild(since);
    }
    var parts = ["From "];
    var start = el("time", { datetime: blog.coverage_start || blog.coverage_end, "data-local": "datetime" });
    var end = el("time", { datetime: blog.coverage_end, "data-local": "datetime" });
    localizeTime(start);
    localizeTime(end);
    since.textContent = "";
    parts.concat([start, " to ", end]).forEach(function (p) {
      since.appendChild(typeof p === "string" ? document.createTextNode(p) : p);
    });
  }

  function closeBlog(blog) {
    live = false;
    stopTransports();
    closeCoverage(blog);
    var status = main.querySelector("[data-blog-status]");
    if (status) {
      status.textContent = "Ended";
      status.className = "status status--closed";
    }
    var note = main.querySelector("[data-closed-note]");
    if (note) note.hidden = false;
    announce("This live blog has ended.");
  }

  function handle(message) {
    if (message && typeof message.seq !== "number" && typeof message.type === "string") {
      // Live-only (poll.updated, readers.now): no seq, outside the event log.
      document.dispatchEvent(new CustomEvent("liveblog:live", { detail: message }));
      return;
    }
    if (!message || typeof message.seq !== "number") return;
    if (message.seq <= seq) return; // already applied (SSE and polling may overlap)
    if (message.seq > seq + 1 && !message._fromPoll) {
      schedulePoll(0); // a gap: fetch what was missed, in order
      return;
    }
    seq = message.seq;
    main.setAttribute("data-seq", String(seq));
    if (message.entry && message.entry.deleted) {
      removeEntry(message.entry); // a tombstone: the entry was taken down since
    } else if (message.type === "entry.published" || message.type === "entry.updated") {
      applyEntry(message.entry, message.type === "entry.published");
    } else if (message.type === "entry.deleted") {
      removeEntry(message.entry);
    } else if (message.type === "blog.updated" || message.type === "blog.closed" || message.type === "blog.opened") {
      applyBlog(message.blog);
    }
  }

  // --- Transports: SSE first, polling as the fallback ---------------------------

  var source = null;
  var pollTimer = null;
  var pollDelay = POLL_MS;
  var reconnectTimer = null;
  var drops = 0; // streams lost in a row without one that stayed open

  function stopTransports() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { window.clearTimeout(pollTimer); pollTimer = null; }
    if (reconnectTimer) { window.clearTimeout(reconnectTimer); reconnectTimer = null; }
  }

  function jitter(ms) { return ms * (0.8 + Math.random() * 0.4); }

  function schedulePoll(ms) {
    if (!live) return;
    if (pollTimer) window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(poll, jitter(ms));
  }

  function poll() {
    pollTimer = null;
    if (!live) return;
    var asked = seq;
    var url = main.getAttribute("data-updates-url") + "?since=" + seq;
    fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        (data.events || []).forEach(function (m) { m._fromPoll = true; handle(m); });
        if (data.has_more) { schedulePoll(0); return; }
        if (data.seq < asked) { window.location.reload(); return; } // the blog's log was reset
        if (data.poll_ms > 0 && !window.LIVEBLOG_POLL_MS) {
          POLL_MS = data.poll_ms;
          POLL_HIDDEN_MS = Math.max(30000, data.poll_ms);
        }
        if (data.push === "poll") {
          movedToPolling = true;
          if (source) { source.close(); source = null; }
        } else if (data.push === "sse" && movedToPolling && !source) {
          movedToPolling = false;
          pollDelay = POLL_MS;
          if (startSSE()) return; // its open catches up
        }
        pollDelay = POLL_MS;
        if (source && source.readyState === EventSource.OPEN) return; // SSE carries on
        schedulePoll(document.hidden ? POLL_HIDDEN_MS : pollDelay);
      })
      .catch(function () {
        pollDelay = Math.min(pollDelay * 2, MAX_BACKOFF_MS);
        schedulePoll(pollDelay);
      });
  }

  // True while the server has moved this page off streams (overload switch).
  var movedToPolling = false;

  function onPace(ev) {
    var pace;
    try { pace = JSON.parse(ev.data); } catch (e) { return; }
    if (pace.poll_ms > 0 && !window.LIVEBLOG_POLL_MS) {
      POLL_MS = pace.poll_ms;
      POLL_HIDDEN_MS = Math.max(30000, pace.poll_ms);
      pollDelay = POLL_MS;
    }
    if (pace.push === "poll") {
      movedToPolling = true;
      if (source) { source.close(); source = null; }
      // Spread over the whole interval: every reader hears this at once.
      if (pollTimer) window.clearTimeout(pollTimer);
      pollTimer = window.setTimeout(poll, Math.random() * POLL_MS);
    }
  }

  function startPolling() {
    if (source) { source.close(); source = null; }
    if (!pollTimer) schedulePoll(pollDelay);
  }

  var EVENT_TYPES = ["entry.published", "entry.updated", "entry.deleted", "blog.updated", "blog.closed", "blog.opened",
    "poll.updated", "readers.now"];

  function startSSE(resuming) {
    var url = main.getAttribute("data-events-url");
    if (!url || !window.EventSource || window.LIVEBLOG_TRANSPORT === "poll") return false;
    var opened = false;
    var openedAt = 0;
    var failures = 0;
    // A fresh stream names no resume point, so the production profile's push
    // engine (Nchan) holds it; the catch-up poll on open fills what was
    // published since the page was rendered. A resumed one names the last
    // seq applied (the server replays or hands over from there);
    // EventSource adds a Last-Event-ID header to its own retries.
    if (resuming && seq > 0) url += (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + seq;
    source = new EventSource(url);
    function onMessage(ev) {
      try { handle(JSON.parse(ev.data)); } catch (e) { /* ignore a malformed message */ }
    }
    EVENT_TYPES.forEach(function (type) { source.addEventListener(type, onMessage); });
    source.addEventListener("pace", onPace);
    source.onmessage = onMessage;
    source.onopen = function () {
      opened = true;
      openedAt = Date.now();
      failures = 0;
      // Catch up once on every (re)connect: a push engine that keeps no
      // history (Nchan in the production profile) does not replay what was
      // published between the page's render and this subscription. The
      // poll does not reschedule itself while SSE is open, and handle()
      // drops seqs already applied.
      schedulePoll(0);
      // Once more after the micro-cache's second has passed: the first
      // answer may predate an entry published just before this subscription.
      window.setTimeout(function () { if (source) schedulePoll(0); }, 2500);
    };
    source.onerror = function () {
      failures += 1;
      // Never connected (no endpoint, a proxy that buffers) or given up
      // for good: poll instead.
      if ((!opened && !resuming) || source.readyState === EventSource.CLOSED || failures > 3) {
        startPolling();
        return;
      }
      if (!pollTimer) schedulePoll(pollDelay); // a poll or two meanwhile
      if (opened && Date.now() - openedAt < HANDOVER_MS) return; // a replay ended: EventSource resumes
      // Dropped: resume after a random delay rather than with every other
      // reader at once; give up for polling after a few in a row.
      drops = opened ? 1 : drops + 1;
      source.close();
      source = null;
      if (drops > 4) { startPolling(); return; }
      reconnectTimer = window.setTimeout(function () {
        reconnectTimer = null;
        if (live && !source && !movedToPolling) startSSE(true);
      }, RECONNECT_MS * drops * (0.5 + Math.random()));
    };
    return true;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && live && !source) schedulePoll(0);
  });

  window.addEventListener("scroll", function () {
    if (pending.length && !scrolledDown()) flushPending(false);
  }, { passive: true });

  if (newButton) newButton.addEventListener("click", function () { flushPending(true); });

  // --- Older updates in place ----------------------------------------------------

  main.addEventListener("click", function (ev) {
    var link = ev.target.closest("a[data-older-link]");
    if (link && timeline) {
      ev.preventDefault();
      link.setAttribute("aria-busy", "true");
      fetch(link.href, { headers: { Accept: "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var firstNew = null;
          doc.querySelectorAll("[data-timeline] article[data-entry-id]").forEach(function (article) {
            if (document.getElementById(article.id)) return;
            var node = document.importNode(article, true);
            timeline.appendChild(node);
            localizeTimes(node);
            firstNew = firstNew || node;
          });
          var next = doc.querySelector("a[data-older-link]");
          if (next) {
            link.href = next.getAttribute("href");
            link.removeAttribute("aria-busy");
          } else {
            hasOlder = false;
            main.setAttribute("data-has-older", "false");
            link.remove();
          }
          if (firstNew) firstNew.focus({ preventScroll: true });
        })
        .catch(function () { window.location.href = link.href; });
      return;
    }
    // Key events: jump within the page when the entry is here; otherwise
    // follow the link to the page around it.
    var jump = ev.target.closest("a[data-entry-link]");
    if (jump) {
      var target = document.getElementById("entry-" + jump.getAttribute("data-entry-link"));
      if (target) {
        ev.preventDefault();
        target.scrollIntoView({ block: "start" });
        target.focus({ preventScroll: true });
        history.replaceState(null, "", "#" + target.id);
      }
    }
  });

  // --- Embeds: nothing from the provider until the reader asks ---------------------
  // A card with a player address (data-embed-frame, a frame-src origin) gets
  // a button; the click swaps the card for the provider's iframe. Its script
  // never runs on our page.

  function enhanceEmbeds(root) {
    var cards = root.querySelectorAll("figure[data-embed-frame]");
    for (var i = 0; i < cards.length; i++) {
      var card = cards[i];
      if (card.querySelector("[data-embed-load]")) continue;
      var label = card.getAttribute("data-embed-label") || "the provider";
      var what = card.getAttribute("data-embed") === "youtube" ? "video" : "post";
      var button = el("button", { type: "button", "class": "embed__load", "data-embed-load": "" },
        ["Load the " + what + " from " + label]);
      card.insertBefore(button, card.querySelector("figcaption"));
    }
  }

  enhanceEmbeds(main);

  main.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-embed-load]");
    if (!button) return;
    var card = button.closest("figure[data-embed-frame]");
    var src = card && card.getAttribute("data-embed-frame");
    if (!src || !/^https:\/\//.test(src)) return;
    var provider = card.getAttribute("data-embed");
    var frame = el("iframe", {
      src: src, title: (card.getAttribute("data-embed-label") || "Embedded") + " " + (provider === "youtube" ? "video" : "post"),
      allow: "autoplay; encrypted-media; picture-in-picture; fullscreen",
      referrerpolicy: "strict-origin-when-cross-origin",
      sandbox: "allow-scripts allow-same-origin allow-popups allow-presentation",
      "class": "embed__player embed__player--" + provider
    });
    var caption = card.querySelector("figcaption");
    card.replaceChildren(frame);
    if (caption) card.appendChild(caption);
    card.classList.add("embed--loaded");
    frame.focus();
  });

  // A permalink page: bring the entry into view.
  var focusId = main.getAttribute("data-focus-entry");
  if (focusId && !window.location.hash) {
    var focusEl = document.getElementById("entry-" + focusId);
    if (focusEl) { focusEl.scrollIntoView({ block: "start" }); focusEl.focus({ preventScroll: true }); }
  }

  if (live) {
    if (!startSSE()) startPolling();
  }

  window.liveblog = { handle: handle, seq: function () { return seq; }, slug: slug };
})();

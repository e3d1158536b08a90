/* The reporter desk's script: progressive enhancement, no build step.

   Every form works without it. With it:
   - forms are sent with fetch (Accept: application/json) and the page is
     patched instead of reloaded; errors land next to their field;
   - Ctrl/Cmd+Enter publishes from the composer and saves an edit; Esc cancels;
   - the body gets a live, debounced Markdown preview and embed hints;
   - the timeline follows the desk state endpoint: polled every few seconds
     and at once whenever the blog's SSE channel announces an event.
*/
(function () {
  "use strict";

  var desk = document.getElementById("desk");

  /* "Copy" buttons (the embed code): shown only where the script runs. */
  function copyFrom(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    var status = button.parentNode.querySelector("[data-copy-status]");
    function done(ok) {
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the code and copy it.";
    }
    function fallback() {
      target.focus();
      target.select();
      try { done(document.execCommand("copy")); } catch (e) { done(false); }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(target.value).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy-target]"), function (button) {
    if (!document.getElementById(button.getAttribute("data-copy-target"))) return;
    button.hidden = false;
    button.addEventListener("click", function () { copyFrom(button); });
  });

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* One message at a time: each replaces the last. When an error sits next
     to its field, the flash is cleared instead (the field says it). */
  function announce(message) {
    var region = document.getElementById("flash");
    if (!region) return;
    region.textContent = "";
    if (!message) return;
    var p = document.createElement("p");
    p.className = "flash flash--info";
    p.textContent = message;
    region.appendChild(p);
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  async function postForm(url, data) {
    var response;
    try {
      response = await fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
      });
    } catch (err) {
      return { ok: false, status: 0, message: "Could not reach the server. Your text is still here; try again." };
    }
    if (response.redirected && response.url.indexOf("/desk/login/") !== -1) {
      return {
        ok: false, status: 401,
        message: "You have been logged out. Log in again in another tab, then retry: your text is still here.",
      };
    }
    var body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!body) {
      return {
        ok: false, status: response.status,
        message: response.status === 403
          ? "Your session has expired or the page is stale. Reload the page (your text is kept in this tab until you do)."
          : "The server answered " + response.status + ". Try again.",
      };
    }
    body.status = response.status;
    return body;
  }

  // A form's Idempotency-Key stands for one attempt: kept when the server
  // could not be reached (a retry may replay the first answer), renewed once
  // it answered, so the next submit of the same form is a new write.
  function renewIdempotencyKey(form, result) {
    var field = form && form.querySelector("[data-idempotency-key]");
    if (!field || !result || result.status === 0) return;
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    field.value = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- Field errors ----------------------------------------------------------

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".field--invalid").forEach(function (el) { el.classList.remove("field--invalid"); });
    var formError = form.querySelector(".form-error");
    if (formError) formError.textContent = "";
  }

  function showErrors(form, result) {
    var first = null;
    var errors = result.errors || {};
    var unplaced = [];
    Object.keys(errors).forEach(function (name) {
      var wrapper = form.querySelector('.field[data-field="' + name + '"]');
      if (!wrapper) { unplaced = unplaced.concat(errors[name]); return; }
      wrapper.classList.add("field--invalid");
      var slot = wrapper.querySelector(".field-error");
      if (slot) slot.textContent = errors[name].join(" ");
      wrapper.querySelectorAll("input, textarea, select").forEach(function (el) {
        el.setAttribute("aria-invalid", "true");
      });
      if (!first) first = wrapper.querySelector("input:not([type=hidden]), textarea, select");
      var folded = wrapper.closest("details");
      if (folded) folded.open = true;
    });
    var formError = form.querySelector(".form-error");
    if (!Object.keys(errors).length || unplaced.length) {
      if (formError) {
        formError.textContent = "";
        var p = document.createElement("p");
        p.textContent = unplaced.length ? unplaced.join(" ") : result.message;
        formError.appendChild(p);
        if (!first) first = formError;
      }
    }
    if (first) first.focus();
  }

  function setBusy(form, busy) {
    form.setAttribute("aria-busy", busy ? "true" : "false");
    form.querySelectorAll("button").forEach(function (b) { b.disabled = busy; });
  }

  function fillTimezone(form) {
    form.querySelectorAll("input[name$=tz_offset]").forEach(function (input) {
      var when = form.querySelector("input[type=datetime-local]");
      var date = when && when.value ? new Date(when.value) : new Date();
      input.value = String(isNaN(date) ? new Date().getTimezoneOffset() : date.getTimezoneOffset());
    });
  }

  function localInputValue(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function localizeTimes(root) {
    root.querySelectorAll("input[type=datetime-local][data-utc]").forEach(function (input) {
      input.value = localInputValue(input.dataset.utc);
      input.removeAttribute("data-utc");
    });
  }

  /* Times are rendered in the server's zone; show them in the reporter's. */
  function localizeClock(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d) || el.dataset.local) return;
      el.dataset.local = "1";
      el.title = d.toString();
      var withDate = el.textContent.trim().indexOf(" ") !== -1;
      el.textContent = withDate
        ? d.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })
        : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
  }

  // --- Timeline ----------------------------------------------------------------

  function listFor(place) {
    var id = { queue: "queue-list", pending: "pending-list" }[place] || "timeline-list";
    return document.getElementById(id) || document.getElementById("pending-list") ||
      document.getElementById("timeline-list");
  }

  function isEditing(article) {
    return article && article.classList.contains("editing");
  }

  function markStale(article, text) {
    var note = article.querySelector(".stale-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "stale-note";
      note.setAttribute("role", "status");
      article.insertBefore(note, article.firstChild);
    }
    note.textContent = text;
  }

  /* Put a freshly rendered card in place of the old one (or add it). */
  function upsert(html) {
    var card = fragment(html);
    localizeClock(card);
    var old = document.getElementById(card.id);
    if (old && isEditing(old)) {
      if (old.dataset.version !== card.dataset.version) {
        old.dataset.newerVersion = card.dataset.version;
        markStale(old, "A colleague saved version " + card.dataset.version +
          " while you were editing. Saving will show you both versions.");
      }
      return old;
    }
    if (old && old.parentElement && old.parentElement.dataset.place !== card.dataset.place) {
      var wasFocused = old.contains(document.activeElement);
      old.remove();
      listFor(card.dataset.place).prepend(card);
      if (wasFocused) card.focus();
    } else if (old) {
      var hadFocus = old.contains(document.activeElement);
      old.replaceWith(card);
      if (hadFocus) card.focus();
    } else {
      listFor(card.dataset.place).prepend(card);
    }
    return card;
  }

  var since = desk ? desk.dataset.since : "0";
  var refreshing = false;
  var refreshAgain = false;
  var refreshTimer = null;

  async function refresh() {
    if (!desk) return;
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    try {
      var url = desk.dataset.stateUrl + "?since=" + encodeURIComponent(since);
      var response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!response.ok) return;
      var state = await response.json();
      applyState(state);
    } catch (err) {
      /* offline for a moment: the next poll tries again */
    } finally {
      refreshing = false;
      if (refreshAgain) { refreshAgain = false; scheduleRefresh(0); }
    }
  }

  function scheduleRefresh(delay) {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, delay);
  }

  function applyState(state) {
    var missing = false;
    var seen = {};
    var positions = {};
    state.entries.forEach(function (item) {
      var id = "desk-entry-" + item.id;
      seen[id] = true;
      var el = document.getElementById(id);
      if (item.html) {
        var differs = !el || el.dataset.version !== String(item.version) ||
          el.dataset.status !== item.status || el.dataset.awaiting !== (item.awaiting_approval ? "1" : "0") ||
          el.dataset.place !== item.place;
        if (differs) el = upsert(item.html);
      } else if (!el) {
        missing = true;
        return;
      }
      if (isEditing(el)) {
        if (el.dataset.version !== String(item.version) && !item.html) {
          markStale(el, "A colleague changed this entry while you were editing. Saving will show you both versions.");
        }
      }
      var list = listFor(item.place);
      positions[list.id] = positions[list.id] || 0;
      var index = positions[list.id]++;
      var at = list.children[index];
      if (at !== el) {
        var focused = el.contains(document.activeElement) ? document.activeElement : null;
        list.insertBefore(el, at || null);
        if (focused) focused.focus();
      }
    });
    document.querySelectorAll(".entry-list > .desk-entry").forEach(function (el) {
      if (seen[el.id]) return;
      if (isEditing(el)) {
        markStale(el, "A colleague deleted this entry while you were editing it.");
      } else {
        el.remove();
      }
    });
    updateWaiting();
    var readers = document.getElementById("reader-count");
    if (readers && typeof state.reader_count === "number") readers.textContent = String(state.reader_count);
    if (state.blog && state.blog.status !== desk.dataset.blogStatus) {
      var notice = document.getElementById("blog-notice");
      if (notice) {
        notice.hidden = false;
        notice.innerHTML = "";
        notice.append("This blog is now " + state.blog.status + ". ");
        var link = document.createElement("a");
        link.href = window.location.pathname;
        link.textContent = "Reload the desk to update its controls.";
        notice.appendChild(link);
      }
    }
    if (applyQuestions(state.questions)) missing = true;
    applyQuiet(state.quiet_since);
    since = missing ? "0" : state.now;
    if (missing) scheduleRefresh(0);
  }

  /* Reader questions arrive only through the state poll (asking makes no
     reader event). New ones are appended; handled ones leave, unless a
     reporter is typing an answer to it here. True when a card is missing
     and the next poll must ask for all of them. */
  function applyQuestions(questions) {
    var list = document.getElementById("questions-list");
    if (!list || !questions) return false;
    var seen = {};
    var added = 0;
    var missing = false;
    questions.forEach(function (item) {
      seen[item.id] = true;
      if (list.querySelector('[data-question-id="' + item.id + '"]')) return;
      if (!item.html) { missing = true; return; } // asked before the last poll: ask for every card
      var node = fragment(item.html);
      if (!node) return;
      list.appendChild(node);
      localizeClock(node);
      added++;
    });
    list.querySelectorAll("[data-question-id]").forEach(function (el) {
      if (seen[el.dataset.questionId]) return;
      if (el.contains(document.activeElement)) return;
      el.remove();
    });
    var count = document.getElementById("questions-count");
    if (count) count.textContent = String(list.querySelectorAll("[data-question-id]").length);
    if (added) announce(added === 1 ? "A reader sent a question." : added + " reader questions arrived.");
    return missing;
  }

  function applyQuiet(quietSince) {
    var notice = document.getElementById("quiet-notice");
    if (!notice) return;
    notice.hidden = !quietSince;
    var at = notice.querySelector("[data-quiet-since]");
    if (quietSince && at) {
      at.setAttribute("datetime", quietSince);
      at.textContent = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(new Date(quietSince));
    }
  }

  function updateWaiting() {
    var waiting = document.querySelectorAll("#queue-list > .desk-entry").length;
    var queueCount = document.getElementById("queue-count");
    if (queueCount) queueCount.textContent = String(waiting);
    document.querySelectorAll("[data-waiting-count]").forEach(function (el) { el.textContent = String(waiting); });
    document.querySelectorAll("[data-waiting-link]").forEach(function (el) {
      el.classList.toggle("waiting--none", waiting === 0);
    });
  }

  function listen() {
    if (!desk) return;
    var poll = (parseFloat(desk.dataset.pollSeconds) || 5) * 1000;
    setInterval(refresh, poll);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") scheduleRefresh(0);
    });
    if (!window.EventSource) return;
    var source = new EventSource(desk.dataset.eventsUrl);
    var onEvent = function () { scheduleRefresh(30); };
    ["message", "entry.published", "entry.updated", "entry.deleted", "blog.updated", "blog.closed", "blog.opened"]
      .forEach(function (type) { source.addEventListener(type, onEvent); });
    source.addEventListener("error", function () { scheduleRefresh(1000); });
  }

  // --- Composer ---------------------------------------------------------------

  function resetComposer(form) {
    form.querySelectorAll("input[type=text], textarea, input[type=datetime-local]").forEach(function (el) {
      el.value = "";
    });
    form.querySelectorAll('input[type=checkbox][name=key_event], input[type=checkbox][name=pinned]')
      .forEach(function (el) { el.checked = false; });
    var kind = form.querySelector("select[name=kind]");
    if (kind) kind.value = "update";
    clearPhoto(form);
    var more = document.getElementById("composer-more");
    if (more) more.open = false;
    updatePreview(form, true);
  }

  async function submitComposer(form, submitter) {
    fillTimezone(form);
    var data = new FormData(form, submitter);
    clearErrors(form);
    setBusy(form, true);
    var result = await postForm(form.getAttribute("action"), data);
    setBusy(form, false);
    renewIdempotencyKey(form, result);
    if (!result.ok) {
      showErrors(form, result);
      announce(result.errors && Object.keys(result.errors).length ? "" : result.message);
      return;
    }
    if (result.entry_html) upsert(result.entry_html);
    updateWaiting();
    resetComposer(form);
    announce(result.message);
    form.querySelector("textarea[name=body]").focus();
    scheduleRefresh(0);
  }

  var previewTimer = null;
  var previewSeq = 0;

  function updatePreview(form, immediately) {
    var body = form.querySelector("textarea[name=body]");
    var counter = document.querySelector("#body-count [data-count]");
    if (counter) counter.textContent = String(body.value.length);
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async function () {
      var preview = document.getElementById("preview");
      var embeds = document.getElementById("embeds");
      var panel = document.getElementById("preview-panel");
      if (!preview) return;
      if (!body.value.trim()) {
        preview.textContent = "";
        embeds.textContent = "";
        if (panel) panel.hidden = true;
        return;
      }
      if (panel) panel.hidden = false;
      var mine = ++previewSeq;
      var data = new FormData();
      data.append("body", body.value);
      var result = await postForm(desk.dataset.previewUrl, data);
      if (mine !== previewSeq) return;
      if (!result.ok) { embeds.textContent = result.message; return; }
      preview.innerHTML = result.html; // sanitized by the server (posts.domain.rendering)
      embeds.textContent = "";
      result.embeds.forEach(function (embed) {
        var p = document.createElement("p");
        p.className = "embed-hint embed-hint--" + (embed.embeds ? "yes" : "no");
        var label = { x: "X", bluesky: "Bluesky", youtube: "YouTube" }[embed.provider];
        p.textContent = embed.embeds
          ? label + " link: readers see it as an embedded " + (embed.provider === "youtube" ? "video" : "post") + "."
          : label + " link inside a sentence: put it on a line of its own to embed it.";
        embeds.appendChild(p);
      });
    }, immediately ? 0 : 250);
  }

  // --- Edit in place --------------------------------------------------------

  async function openEditor(article, link) {
    if (isEditing(article)) return;
    var response = await fetch(link.href + "?partial=1", { credentials: "same-origin" });
    if (!response.ok) {
      announce(response.status === 404 ? "That entry was deleted by a colleague." : "Could not open the editor.");
      if (response.status === 404) scheduleRefresh(0);
      return;
    }
    var form = fragment(await response.text());
    article.classList.add("editing");
    article.querySelector(".entry-view").hidden = true;
    article.appendChild(form);
    localizeTimes(form);
    var first = form.querySelector("input[type=text], textarea");
    if (first) first.focus();
  }

  function closeEditor(article, refocus) {
    var form = article.querySelector("form.edit-form");
    if (form) form.remove();
    var note = article.querySelector(".stale-note");
    if (note) note.remove();
    article.classList.remove("editing");
    article.querySelector(".entry-view").hidden = false;
    var stale = article.dataset.newerVersion;
    delete article.dataset.newerVersion;
    if (stale) { since = "0"; scheduleRefresh(0); }
    if (refocus) {
      var edit = article.querySelector('[data-action="edit"]');
      (edit || article).focus();
    }
  }

  async function submitEdit(form) {
    var article = form.closest(".desk-entry");
    fillTimezone(form);
    clearErrors(form);
    setBusy(form, true);
    var result = await postForm(form.getAttribute("action"), new FormData(form));
    setBusy(form, false);
    renewIdempotencyKey(form, result);
    if (result.ok) {
      article.classList.remove("editing");
      var card = upsert(result.entry_html);
      announce(result.message);
      var edit = card.querySelector('[data-action="edit"]');
      (edit || card).focus();
      scheduleRefresh(0);
      return;
    }
    if (result.form_html) {
      var replacement = fragment(result.form_html);
      form.replaceWith(replacement);
      var note = article.querySelector(".stale-note");
      if (note) note.remove();
      var alert = replacement.querySelector(".form-error");
      var invalid = replacement.querySelector("[aria-invalid=true]");
      announce("");
      if (result.code === "stale_version" && alert) alert.focus();
      else if (invalid) invalid.focus();
      else if (alert) alert.focus();
      return;
    }
    showErrors(form, result);
    announce("");
    if (result.code === "not_found" || result.code === "entry_deleted") { closeEditor(article, false); scheduleRefresh(0); }
  }

  // --- Small actions: publish, approve, submit, pin, delete, history ---------

  async function submitAction(form, submitter) {
    var article = form.closest(".desk-entry");
    setBusy(form, true);
    var result = await postForm(form.getAttribute("action"), new FormData(form, submitter));
    setBusy(form, false);
    if (result.ok && result.entry_html) {
      announce(result.message);
      var card = upsert(result.entry_html);
      card.focus();
      updateWaiting();
    } else if (!result.ok && article) {
      announce("");
      markStale(article, result.message);
    } else {
      announce(result.message);
    }
    scheduleRefresh(0);
  }

  async function deleteEntry(article, link) {
    var title = article.querySelector(".entry-title").textContent.trim();
    if (!window.confirm("Delete this entry?\n\n“" + title + "”\n\nReaders stop seeing it at once.")) return;
    var data = new FormData();
    data.append("version", link.dataset.version || "");
    var result = await postForm(link.href, data);
    announce(result.ok ? "Entry deleted." : result.message);
    if (result.ok) {
      var next = article.nextElementSibling || article.previousElementSibling;
      article.remove();
      var focusTarget = next ? next.querySelector('[data-action="edit"]') || next : document.getElementById("composer-title");
      if (focusTarget) { if (!focusTarget.hasAttribute("tabindex") && focusTarget.tagName === "H2") focusTarget.tabIndex = -1; focusTarget.focus(); }
    }
    scheduleRefresh(0);
  }

  async function loadHistory(details) {
    if (details.dataset.loaded) return;
    details.dataset.loaded = "1";
    var response = await fetch(details.dataset.url, { credentials: "same-origin" });
    if (!response.ok) return;
    var body = details.querySelector(".history-body");
    body.innerHTML = await response.text();
    localizeClock(body);
  }

  // --- Photo (templates/desk/_photo_fields.html) ----------------------------------
  // A photo picked, dropped or pasted goes into the composer's file input, so
  // it travels with the entry in one submit (the same path as without script).

  var PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

  function photoError(form, message) {
    var slot = form.querySelector("[data-field=photo] .field-error");
    if (slot) slot.textContent = message;
  }

  function showPhotoPreview(form, file) {
    var preview = form.querySelector("[data-photo-preview]");
    if (!preview) return;
    if (!file) { preview.hidden = true; return; }
    var reader = new FileReader();
    reader.addEventListener("load", function () {
      // A data: URL: the desk's CSP allows data: images, not blob: ones.
      preview.querySelector("[data-photo-preview-img]").src = reader.result;
      preview.hidden = false;
    });
    reader.readAsDataURL(file);
  }

  function setPhoto(form, file) {
    var input = form.querySelector("input[type=file][name=photo]");
    if (!input || !file) return false;
    photoError(form, "");
    if (PHOTO_TYPES.indexOf(file.type) === -1) {
      photoError(form, "That is not a JPEG, PNG, WebP or GIF photo.");
      return false;
    }
    var transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    showPhotoPreview(form, file);
    var alt = form.querySelector("input[name=photo_alt]");
    announce("Photo added: " + (file.name || "pasted image") + ". Describe it in the alt text.");
    if (alt && !alt.value) alt.focus();
    return true;
  }

  function clearPhoto(form) {
    var input = form.querySelector("input[type=file][name=photo]");
    if (input) input.value = "";
    showPhotoPreview(form, null);
  }

  function firstImage(list) {
    for (var i = 0; i < (list ? list.length : 0); i++) {
      if (list[i].type && list[i].type.indexOf("image/") === 0) return list[i];
    }
    return null;
  }

  function wirePhoto(form) {
    var drop = form.querySelector("[data-photo-drop]");
    var input = form.querySelector("input[type=file][name=photo]");
    if (!drop || !input) return;
    input.addEventListener("change", function () {
      photoError(form, "");
      showPhotoPreview(form, input.files[0] || null);
    });
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (event) {
        event.preventDefault();
        drop.classList.add("photo-drop--over");
      });
    });
    drop.addEventListener("dragleave", function () { drop.classList.remove("photo-drop--over"); });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      drop.classList.remove("photo-drop--over");
      var files = event.dataTransfer && event.dataTransfer.files;
      setPhoto(form, files && files[0]);
    });
    // A screenshot or a copied image pasted anywhere in the composer; text pastes as usual.
    form.addEventListener("paste", function (event) {
      var file = firstImage(event.clipboardData && event.clipboardData.files);
      if (!file) return;
      event.preventDefault();
      setPhoto(form, file);
    });
    form.querySelector("[data-photo-remove]").addEventListener("click", function () {
      clearPhoto(form);
      input.focus();
    });
  }

  // --- Wiring -------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var kind = form.dataset.deskForm;
    if (!kind) { fillTimezone(form); return; }
    event.preventDefault();
    if (kind === "composer") submitComposer(form, event.submitter);
    else if (kind === "edit") submitEdit(form);
    else if (kind === "action") submitAction(form, event.submitter);
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action]");
    if (!target) return;
    var article = target.closest(".desk-entry");
    var action = target.dataset.action;
    if (action === "edit" && article) { event.preventDefault(); openEditor(article, target); }
    else if (action === "delete" && article) { event.preventDefault(); deleteEntry(article, target); }
    else if ((action === "cancel-edit" || action === "take-theirs") && article) {
      event.preventDefault();
      if (action === "take-theirs") article.dataset.newerVersion = "take";
      closeEditor(article, true);
    }
  });

  document.addEventListener("keydown", function (event) {
    var form = event.target.closest && event.target.closest("form[data-desk-form]");
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && form) {
      event.preventDefault();
      if (form.dataset.deskForm === "composer") {
        form.requestSubmit(form.querySelector("[data-primary]"));
      } else {
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Escape" && form && form.dataset.deskForm === "edit") {
      event.preventDefault();
      closeEditor(form.closest(".desk-entry"), true);
      return;
    }
    // Enter in the composer's headline moves on to the body instead of publishing.
    if (event.key === "Enter" && form && form.dataset.deskForm === "composer" &&
        event.target.name === "headline") {
      event.preventDefault();
      form.querySelector("textarea[name=body]").focus();
    }
  });

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.classList && details.classList.contains("history") && details.open) loadHistory(details);
  }, true);

  var composer = document.getElementById("composer");
  if (composer) {
    var body = composer.querySelector("textarea[name=body]");
    body.addEventListener("input", function () { updatePreview(composer, false); });
    wirePhoto(composer);
    if (body.value.trim()) updatePreview(composer, true);
  }
  /* The header's "3 waiting" opens the queue it points to. */
  function openTarget() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  localizeTimes(document);
  localizeClock(document);
  listen();
})();

/* Reader polls and "N reading now" (docs/polls.md): progressive enhancement.
 *
 * Without it a poll is a plain form: the vote posts and the answer is a
 * page with the result and a link back. With it: the vote is sent in place,
 * tallies are fetched from /live/<slug>/polls/<id> (the entry's HTML never
 * carries them) and kept live from poll.updated messages, which live.js
 * hands over as "liveblog:live" events; so is readers.now.
 */
(function () {
  "use strict";

  var VOTED_KEY = "liveblog:voted:";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function votedFor(pollId) {
    try { return window.localStorage.getItem(VOTED_KEY + pollId); } catch (e) { return null; }
  }

  function rememberVote(pollId, optionId) {
    try { window.localStorage.setItem(VOTED_KEY + pollId, String(optionId)); } catch (e) { /* private mode */ }
  }

  function status(form, text) {
    var box = form.querySelector("[data-poll-status]");
    if (box) box.textContent = text;
  }

  // Tallies beside each option: shown once this browser has voted or the poll closed.
  function showTallies(form, poll) {
    var closed = poll.closed || form.hasAttribute("data-poll-closed");
    var mine = votedFor(poll.id);
    var reveal = closed || mine !== null;
    form.setAttribute("data-poll-total", String(poll.total));
    (poll.options || []).forEach(function (option) {
      var row = form.querySelector('[data-poll-option="' + option.id + '"]');
      if (!row) return;
      var percent = poll.total ? Math.round(100 * option.votes / poll.total) : 0;
      var tally = row.querySelector("[data-poll-tally]");
      if (!tally) {
        tally = el("span", { "class": "poll__tally", "data-poll-tally": String(option.id) });
        row.appendChild(tally);
      }
      var meter = row.querySelector("meter");
      if (!meter) {
        meter = el("meter", { min: "0", max: "100", "aria-hidden": "true" });
        row.appendChild(meter);
      }
      meter.setAttribute("value", String(percent));
      tally.textContent = percent + "% (" + option.votes + ")";
      tally.hidden = !reveal;
      meter.hidden = !reveal;
      row.classList.toggle("poll__option--mine", mine === String(option.id));
    });
    var total = form.querySelector("[data-poll-count]");
    if (!total) {
      total = el("p", { "class": "poll__count", "data-poll-count": "" });
      form.insertBefore(total, form.querySelector(".poll__actions"));
    }
    total.textContent = poll.total === 1 ? "1 vote" : poll.total + " votes";
    if (closed || mine !== null) {
      form.querySelectorAll("input[type=radio]").forEach(function (input) {
        input.disabled = true;
        if (mine !== null && input.value === mine) input.checked = true;
      });
      var button = form.querySelector(".poll__vote");
      if (button) button.hidden = true;
    }
    if (closed) {
      var meta = form.querySelector(".poll__meta");
      if (meta) meta.textContent = "Voting has closed.";
    }
  }

  function load(form) {
    var url = form.getAttribute("data-poll-url");
    if (!url) return;
    // Revalidated, not taken from the browser's cache: a reader reloading
    // right after voting sees the count as it is (nginx still answers from
    // its one-second cache).
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-cache" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (poll) { showTallies(form, poll); })
      .catch(function () { /* the form still works */ });
  }

  function vote(form, ev) {
    ev.preventDefault();
    var chosen = form.querySelector("input[name=option]:checked");
    if (!chosen) { status(form, "Choose an option first."); return; }
    var button = form.querySelector(".poll__vote");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({ option: chosen.value })
    })
      .then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data }; }); })
      .then(function (answer) {
        var data = answer.data || {};
        if (answer.status === 200) {
          rememberVote(data.id, data.voted);
          status(form, "Thank you: your vote is counted.");
          showTallies(form, data);
          return;
        }
        if (data.code === "already_voted" && data.poll) {
          rememberVote(data.poll.id, data.voted !== undefined ? data.voted : chosen.value);
          showTallies(form, data.poll);
        } else if (data.code === "poll_closed" && data.poll) {
          form.setAttribute("data-poll-closed", "");
          showTallies(form, data.poll);
        }
        status(form, data.detail || "Your vote could not be sent; try again.");
        if (button) button.disabled = false;
      })
      .catch(function () {
        status(form, "Your vote could not be sent; try again.");
        if (button) button.disabled = false;
      });
  }

  function enhance(form) {
    if (form.hasAttribute("data-poll-ready")) return;
    form.setAttribute("data-poll-ready", "");
    form.addEventListener("submit", function (ev) { vote(form, ev); });
    load(form);
  }

  // A poll's form for an entry that arrived live (the same as templates/posts/_poll.html).
  function render(poll, entry, slug) {
    var base = "/live/" + slug + "/polls/" + poll.id;
    var form = el("form", {
      "class": "poll", method: "post", action: base + "/vote", "data-poll": String(poll.id), "data-poll-url": base
    });
    if (poll.closed) form.setAttribute("data-poll-closed", "");
    var fieldset = el("fieldset", { "class": "poll__fieldset" }, [el("legend", { "class": "poll__question" }, [poll.question])]);
    poll.options.forEach(function (option) {
      var id = "poll-" + poll.id + "-" + option.id;
      var input = el("input", { type: "radio", name: "option", value: String(option.id), id: id, required: "" });
      if (poll.closed) input.disabled = true;
      fieldset.appendChild(el("div", { "class": "poll__option", "data-poll-option": String(option.id) }, [
        input, el("label", { "for": id }, [option.label])
      ]));
    });
    form.appendChild(fieldset);
    var meta = el("p", { "class": "poll__meta" });
    if (poll.closed) meta.textContent = "Voting has closed.";
    else if (poll.closes_at) {
      meta.appendChild(document.createTextNode("Voting closes "));
      var t = el("time", { datetime: poll.closes_at }, [new Date(poll.closes_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })]);
      meta.appendChild(t);
      meta.appendChild(document.createTextNode("."));
    }
    form.appendChild(meta);
    var actions = el("div", { "class": "poll__actions" });
    if (!poll.closed) actions.appendChild(el("button", { type: "submit", "class": "poll__vote" }, ["Vote"]));
    actions.appendChild(el("a", { "class": "poll__results", href: base + "/result" }, ["See the results"]));
    form.appendChild(actions);
    form.appendChild(el("p", { "class": "poll__status", role: "status", "data-poll-status": "" }));
    enhance(form);
    return form;
  }

  document.addEventListener("liveblog:live", function (ev) {
    var message = ev.detail || {};
    if (message.type === "poll.updated" && message.poll) {
      document.querySelectorAll('form[data-poll="' + message.poll.id + '"]').forEach(function (form) {
        if (message.poll.closed) form.setAttribute("data-poll-closed", "");
        showTallies(form, message.poll);
      });
    } else if (message.type === "readers.now") {
      var box = document.querySelector("[data-readers-now]");
      if (!box) return;
      box.textContent = message.readers === 1 ? "1 reading now" : message.readers + " reading now";
      box.hidden = message.readers < 1;
    }
  });

  document.querySelectorAll("form[data-poll]").forEach(enhance);
  window.liveblogPolls = { render: render };
})();

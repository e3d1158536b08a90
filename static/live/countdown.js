/* The countdown page of a blog scheduled to open (templates/posts/upcoming.html).
 *
 * Without it the page says when the blog starts, in UTC. With it: that time
 * in the reader's own zone, "(in 2 h 05 min)" kept current in a role=timer
 * element (not announced every second), and once /api/blogs/<slug> says the
 * blog is live (asked at the start time, then every few seconds, and every
 * 30 s before in case an editor opens it early) the page loads the live blog.
 *
 * Test hook: window.LIVEBLOG_COUNTDOWN_POLL_MS sets the slow interval.
 */
(function () {
  "use strict";

  var main = document.querySelector("main[data-upcoming]");
  if (!main) return;
  var opensAt = Date.parse(main.getAttribute("data-opens-at"));
  if (isNaN(opensAt)) return;
  var left = main.querySelector("[data-countdown]");
  var at = main.querySelector("[data-countdown-at]");
  var status = main.querySelector("[data-countdown-status]");
  var SLOW_MS = window.LIVEBLOG_COUNTDOWN_POLL_MS || 30000;
  var FAST_MS = 2000;

  if (at) {
    var when = new Date(opensAt);
    var today = when.toDateString() === new Date().toDateString();
    var clock = { hour: "2-digit", minute: "2-digit" };
    var long = { weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" };
    at.textContent = new Intl.DateTimeFormat(undefined, today ? clock : long).format(when);
    at.title = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" }).format(when);
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function remaining(ms) {
    var s = Math.ceil(ms / 1000);
    var days = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (days > 0) return days + (days === 1 ? " day " : " days ") + h + " h";
    if (h > 0) return h + " h " + pad(m) + " min";
    if (m > 0) return m + " min " + pad(s % 60) + " s";
    return s + " s";
  }

  function tick() {
    var ms = opensAt - Date.now();
    left.hidden = false;
    left.textContent = ms > 0 ? "(in " + remaining(ms) + ")" : "(starting now)";
  }

  function open() {
    if (status) status.textContent = "The live blog has started. Loading it.";
    window.location.reload();
  }

  var timer = null;
  function schedule() {
    var untilStart = opensAt - Date.now();
    var delay = untilStart > 0 ? Math.min(SLOW_MS, untilStart + 500) : FAST_MS;
    timer = window.setTimeout(check, delay);
  }

  function check() {
    timer = null;
    fetch(main.getAttribute("data-blog-url"), { headers: { Accept: "application/json" }, cache: "no-cache" })
      .then(function (response) {
        if (response.status === 404) { window.location.reload(); return null; } // unscheduled
        return response.ok ? response.json() : null;
      })
      .then(function (blog) {
        if (blog && blog.status === "live") { open(); return; }
        if (blog && blog.opens_at && Date.parse(blog.opens_at) !== opensAt) { window.location.reload(); return; }
        schedule();
      })
      .catch(schedule);
  }

  if (left) {
    tick();
    window.setInterval(tick, 1000);
  }
  schedule();
})();

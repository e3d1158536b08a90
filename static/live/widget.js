/* The live blog on another site. Paste:
 *   <div data-liveblog="<slug>"></div><script async src="https://<our site>/embed.js"></script>
 * Each [data-liveblog] box gets an iframe of /live/<slug>/embed/ (or uses
 * the one inside it), sized to its content from the height the widget
 * posts. Only messages from this script's own origin, and from that very
 * frame, are believed. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var origin = new URL(script.src).origin;
  var registry = window.__liveblogWidgets = window.__liveblogWidgets || { origins: {}, frames: [] };

  function mount(box) {
    if (box.hasAttribute("data-liveblog-ready")) return;
    var slug = box.getAttribute("data-liveblog") || "";
    if (!/^[-A-Za-z0-9_]+$/.test(slug)) return;
    var frame = box.querySelector("iframe");
    if (!frame) {
      var entry = box.getAttribute("data-liveblog-entry");
      frame = document.createElement("iframe");
      frame.src = origin + "/live/" + slug + "/embed/" + (/^[0-9]+$/.test(entry || "") ? "?entry=" + entry : "");
      frame.title = box.getAttribute("data-liveblog-title") || "Live blog";
      frame.setAttribute("loading", "lazy");
      frame.style.border = "0";
      frame.style.width = "100%";
      frame.style.height = "600px";
      box.appendChild(frame);
    }
    box.setAttribute("data-liveblog-ready", "");
    registry.frames.push({ frame: frame, origin: origin });
  }

  if (!registry.origins[origin]) {
    registry.origins[origin] = true;
    window.addEventListener("message", function (ev) {
      if (ev.origin !== origin) return;
      var data = ev.data;
      if (!data || data.type !== "liveblog:height" || typeof data.height !== "number") return;
      for (var i = 0; i < registry.frames.length; i++) {
        var item = registry.frames[i];
        if (item.origin === origin && item.frame.contentWindow === ev.source) {
          item.frame.style.height = Math.min(Math.max(Math.round(data.height), 80), 20000) + "px";
        }
      }
    });
  }

  var boxes = document.querySelectorAll("[data-liveblog]");
  for (var i = 0; i < boxes.length; i++) mount(boxes[i]);
})();

/* Inside the widget (/live/<slug>/embed/): tell the page that frames it how
 * tall the content is, so its loader script (widget.js) can size the
 * iframe. The height is no secret: it goes to any parent ("*"); the parent
 * checks that the message comes from our origin. */
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = -1;
  function report() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: "liveblog:height", height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
  window.addEventListener("load", report);
  report();
})();

/* Live blog service worker: shows key events and closing notes pushed by the
   newsroom (see posts/push.py), and opens the entry when clicked. */
self.addEventListener("push", (event) => {
  let note = {};
  try { note = event.data ? event.data.json() : {}; } catch (e) { note = { body: event.data.text() }; }
  const title = note.title || "Live blog";
  event.waitUntil(self.registration.showNotification(title, {
    body: note.body || "",
    tag: note.tag,
    image: note.image || undefined,
    data: { url: note.url || "/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((windows) => {
    for (const w of windows) { if (w.url === url && "focus" in w) return w.focus(); }
    return self.clients.openWindow(url);
  }));
});

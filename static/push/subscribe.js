/* Opt in to push notifications for one live blog.
   Markup: <button type="button" data-push-subscribe="SLUG" hidden>Notify me of key events</button>
   Include: <script src="/static/push/subscribe.js" defer></script>
   The button is shown only where the browser supports Web Push. */
(function () {
  "use strict";
  const button = document.querySelector("[data-push-subscribe]");
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const slug = button.getAttribute("data-push-subscribe");
  const label = button.textContent;

  function keyBytes(base64url) {
    const pad = "=".repeat((4 - (base64url.length % 4)) % 4);
    const raw = atob((base64url + pad).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function post(path, subscription) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(subscription),
    });
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
  }

  async function current() {
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    return { registration, subscription: await registration.pushManager.getSubscription() };
  }

  function show(subscribed) {
    button.hidden = false;
    button.setAttribute("aria-pressed", subscribed ? "true" : "false");
    button.textContent = subscribed ? "Notifications on (turn off)" : label;
  }

  async function toggle() {
    button.disabled = true;
    try {
      const { registration, subscription } = await current();
      if (subscription) {
        await post(`/live/${slug}/push/unsubscribe`, subscription.toJSON());
        await subscription.unsubscribe();
        show(false);
        return;
      }
      if ((await Notification.requestPermission()) !== "granted") return;
      const { publicKey } = await (await fetch("/push/key")).json();
      const created = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
      });
      await post(`/live/${slug}/push/subscribe`, created.toJSON());
      show(true);
    } catch (error) {
      button.title = String(error.message || error);
    } finally {
      button.disabled = false;
    }
  }

  current().then(({ subscription }) => show(Boolean(subscription))).catch(() => {});
  button.addEventListener("click", toggle);
})();

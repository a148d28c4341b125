// "Enable notifications on this device": register the service worker,
// subscribe with the hub's VAPID key, and hand the subscription to the hub.
"use strict";

(function () {
  const card = document.getElementById("this-device");
  const button = document.getElementById("enable-push");
  if (!card || !button) return;
  const status = document.getElementById("push-status");

  function say(text) { status.textContent = text; }

  function keyBytes(base64url) {
    const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    button.disabled = true;
    say("This browser cannot receive push notifications. On an iPhone, add codexhub to the Home Screen first.");
    return;
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        say("Notifications are blocked for this site. Allow them in the browser's settings, then try again.");
        return;
      }
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(card.dataset.vapidKey),
      });
      const response = await fetch(card.dataset.subscribeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ subscription: subscription.toJSON() }),
      });
      const data = await response.json();
      if (!response.ok) { say(data.error || "The hub refused this device."); return; }
      say(`Enabled on ${data.name}.`);
      location.reload();
    } catch (error) {
      say(`Could not enable notifications: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
})();

// The notification settings page.
// "Enable notifications on this device": register the service worker,
// subscribe with the hub's VAPID key, and hand the subscription to the hub,
// saying what it does at each step. Once the person has allowed notifications,
// each step must end within the card's deadline (10 s): a browser or push
// service that never answers gets a clear error instead of a silent button.
// "Send a test notification": the results card asks the hub how the test went
// on each device until every attempt has ended.
"use strict";

(function () {
  const card = document.getElementById("this-device");
  const button = document.getElementById("enable-push");
  if (!card || !button) return;
  const status = document.getElementById("push-status");
  const deadline = Number(card.dataset.deadline) || 10000;

  function say(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "progress";
  }

  function keyBytes(base64url) {
    const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  class Refused extends Error {}

  // The step's promise, or a Refused error once the deadline passes.
  function inTime(promise, what) {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Refused(`${what} did not answer within ${deadline / 1000} s.`)), deadline);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    button.disabled = true;
    say("This browser cannot receive push notifications. On an iPhone, add codexhub to the Home Screen first.", "error");
    return;
  }

  async function enable() {
    say("Asking this browser for permission…");
    const permission = await Notification.requestPermission();  // waits for the person: no deadline
    if (permission !== "granted") {
      throw new Refused("Notifications are blocked for this site. Allow them in the browser's settings, then try again.");
    }
    say("Starting the service worker…");
    await inTime(navigator.serviceWorker.register("/sw.js", { scope: "/" }), "The browser");
    const registration = await inTime(navigator.serviceWorker.ready, "The service worker");
    say("Subscribing with the browser's push service…");
    let subscription;
    try {
      subscription = await inTime(registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(card.dataset.vapidKey),
      }), "The browser's push service");
    } catch (error) {
      if (error instanceof Refused) throw error;
      throw new Refused(`The browser's push service refused: ${error.message || error.name}.`);
    }
    say("Saving this device on the hub…");
    const response = await inTime(fetch(card.dataset.subscribeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ subscription: subscription.toJSON() }),
    }), "The hub");
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Refused(data.error || `The hub refused this device (${response.status}).`);
    say(`Enabled on ${data.name}.`, "ok");
    location.reload();
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await enable();
    } catch (error) {
      const text = error instanceof Refused ? error.message : `${error.name}: ${error.message}`;
      say(`Could not enable notifications. ${text}`, "error");
    } finally {
      button.disabled = false;
    }
  });
})();

(function () {
  const card = document.getElementById("test-results");
  if (!card) return;
  const list = card.querySelector(".test-results");
  const LABELS = { delivered: "Delivered", failed: "Failed", "not-tried": "Not tried", retrying: "Retrying", sending: "Sending" };
  const TONES = { delivered: "ok", failed: "danger", "not-tried": "danger" };

  function line(device) {
    const item = document.createElement("li");
    item.className = "test-result";
    item.dataset.state = device.state;
    const name = document.createElement("strong");
    name.className = "break";
    name.textContent = device.name;
    const badge = document.createElement("span");
    badge.className = `badge ${TONES[device.state] || "warn"}`;
    badge.textContent = LABELS[device.state] || device.state;
    const text = document.createElement("span");
    text.className = "small break result-text";
    text.textContent = device.text;
    item.append(name, " ", badge, " ", text);
    return item;
  }

  async function poll(wait) {
    let data;
    try {
      const response = await fetch(card.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      data = await response.json();
    } catch {
      setTimeout(() => poll(Math.min(wait * 2, 5000)), wait);
      return;
    }
    list.replaceChildren(...data.devices.map(line));
    card.dataset.done = data.done ? "1" : "";
    if (!data.done) setTimeout(() => poll(wait), wait);
  }
  poll(1000);
})();

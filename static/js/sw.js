// codexhub service worker: makes the app installable and shows Web Push
// notifications. Pages are always fetched from the network.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", () => {});

// A path on this site, else "/": "https://…", "//host/" and "/\host/" lead elsewhere.
function sameSitePath(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  try {
    const url = new URL(value, self.location.origin);
    return url.origin === self.location.origin ? url.pathname + url.search + url.hash : "/";
  } catch { return "/"; }
}

// A permission request's buttons: each carries a token that answers for this user only.
function buttonsOf(data) {
  if (!Array.isArray(data.actions)) return { actions: [], tokens: {} };
  const actions = [];
  const tokens = {};
  for (const item of data.actions.slice(0, 2)) {
    if (!item || typeof item.action !== "string" || typeof item.token !== "string") continue;
    actions.push({ action: item.action, title: String(item.title || item.action) });
    tokens[item.action] = item.token;
  }
  return { actions, tokens };
}

// A request answered elsewhere: take down the notification that asks it.
// (Chrome lets a site skip showing a notification for a push only now and
// then; past that budget it shows its own "updated in the background" one.)
async function clearTag(tag) {
  const shown = await self.registration.getNotifications({ tag });
  shown.forEach((notification) => notification.close());
}

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = {}; }
  if (data.type === "clear") {
    if (typeof data.tag === "string" && data.tag) event.waitUntil(clearTag(data.tag));
    return;
  }
  const url = sameSitePath(data.url);
  const { actions, tokens } = buttonsOf(data);
  const options = {
    body: data.body || "",
    tag: data.tag || undefined,
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
    data: actions.length ? { url, tokens } : { url },
  };
  if (actions.length) {
    options.actions = actions;
    options.requireInteraction = true;  // an agent waits on it
  }
  event.waitUntil(self.registration.showNotification(data.title || "codexhub", options));
});

async function openOrFocus(path) {
  const target = new URL(path, self.location.origin);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).pathname === target.pathname && "focus" in client) return client.focus();
  }
  return self.clients.openWindow(target.href);
}

// A button answers in the background; if that fails (signed out, answered
// elsewhere, role not allowed) the request opens so the person sees why.
async function answer(token, path) {
  try {
    const response = await fetch("/api/push/answer/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token }),
    });
    if (response.ok) return undefined;
  } catch { /* offline: open the request instead */ }
  return openOrFocus(path);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const path = sameSitePath(data.url);
  const token = event.action && data.tokens ? data.tokens[event.action] : undefined;
  event.waitUntil(token ? answer(token, path) : openOrFocus(path));
});

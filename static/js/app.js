// codexhub: progressive enhancement only; every page works without it.
"use strict";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// Close the team menu when tapping elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.team-switch[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});

// A toast for what the hub tells this user over /ws/ui/ ("notify" messages).
window.codexhubToast = function (message) {
  let shelf = document.getElementById("toasts");
  if (!shelf) {
    shelf = document.createElement("div");
    shelf.id = "toasts";
    shelf.className = "toasts";
    shelf.setAttribute("role", "status");
    shelf.setAttribute("aria-live", "polite");
    document.body.append(shelf);
  }
  const toast = document.createElement("a");
  toast.className = "toast";
  // A path on this site only: "//host/" and "/\host/" would lead elsewhere.
  toast.href = typeof message.url === "string" && /^\/(?![\/\\])/.test(message.url) ? message.url : "/";
  const title = document.createElement("strong");
  title.textContent = message.title || "";
  const body = document.createElement("span");
  body.textContent = message.body || "";
  toast.append(title, body);
  shelf.append(toast);
  setTimeout(() => toast.remove(), 8000);
};

// The tab bar's count of unread inbox entries ("inbox" messages).
window.codexhubInboxBadge = function (unread) {
  const badge = document.getElementById("inbox-badge");
  const tab = document.getElementById("inbox-tab");
  if (!badge || typeof unread !== "number") return;
  badge.textContent = String(unread);
  badge.hidden = unread === 0;
  if (tab) tab.setAttribute("aria-label", unread ? `Inbox, ${unread} unread` : "Inbox");
};

// The page's /ws/ui/ socket, kept open: reconnects with jittered back-off and
// pings every 20 s (the hub renews the page's groups on each ping, which a
// Redis restart loses). `onOpen(send)` runs on every (re)connect; `onMessage`
// gets each parsed message; body[data-live] says whether it is open.
window.codexhubSocket = function ({ onOpen, onMessage, openWhenConnected = true }) {
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/ui/`);
    const send = (message) => socket.send(JSON.stringify(message));
    socket.addEventListener("open", () => {
      delay = 1000;
      if (openWhenConnected) document.body.dataset.live = "open";
      if (onOpen) onOpen(send);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      // The page it would link to is this one, and shows the news already.
      const here = typeof message.url === "string" && message.url.split("#")[0] === location.pathname;
      if (message.type === "notify" && window.codexhubToast && !here) window.codexhubToast(message);
      if (message.type === "inbox") window.codexhubInboxBadge(message.unread);
      onMessage(message);
    });
    const pinger = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) send({ type: "ping" });
    }, 20000);
    socket.addEventListener("close", () => {
      clearInterval(pinger);
      document.body.dataset.live = "closed";
      setTimeout(connect, delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
};

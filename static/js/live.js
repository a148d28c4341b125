// Live updates over /ws/ui/: host presence on pages marked with [data-live].
// The socket rings the bell; the hello message on every (re)connect carries
// the current state, so nothing is missed while the socket was down.
"use strict";

(function () {
  if (!document.querySelector("[data-live]")) return;

  function render(host) {
    document.querySelectorAll(`[data-host-id="${host.id}"]`).forEach((el) => {
      const badge = el.querySelector("[data-presence]");
      if (badge && host.state === "active") {
        badge.textContent = host.online ? "Online" : "Offline";
        badge.classList.toggle("ok", host.online);
      } else if (badge) {
        badge.textContent = host.state === "revoked" ? "Revoked" : badge.textContent;
        badge.classList.remove("ok");
      }
      const name = el.querySelector("[data-host-name]");
      if (name) name.textContent = host.name;
      const seen = el.querySelector("[data-last-seen]");
      if (seen && host.online) seen.textContent = "seen just now";
    });
  }

  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/ui/`);
    socket.addEventListener("open", () => { delay = 1000; document.body.dataset.live = "open"; });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "hello") (message.hosts || []).forEach(render);
      if (message.type === "host.presence") render(message.host);
    });
    socket.addEventListener("close", () => {
      document.body.dataset.live = "closed";
      setTimeout(connect, delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();

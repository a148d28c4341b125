// Live updates over /ws/ui/ on pages marked with [data-live]. The socket only
// rings the bell: pages re-fetch their live part as HTML, and every
// (re)connect re-syncs, so nothing is missed while the socket was down.
"use strict";

(function () {
  // Live pages, and every page of a session past its second factor (for toasts);
  // not the task page: task.js has its own socket.
  const wanted = document.querySelector("[data-live]") || document.body.dataset.signedIn;
  if (!wanted || document.getElementById("task-region")) return;
  const region = document.getElementById("live-region");
  const projectId = region && region.dataset.liveProject ? Number(region.dataset.liveProject) : null;
  const filePath = region ? region.dataset.livePath : undefined;
  const status = document.querySelector("[data-live-status]");

  function renderHost(host) {
    document.querySelectorAll(`[data-host-id="${host.id}"]`).forEach((el) => {
      const badge = el.querySelector("[data-presence]");
      if (badge && host.state === "active") {
        badge.textContent = host.online ? "Online" : "Offline";
        badge.classList.toggle("ok", host.online);
        badge.classList.remove("warn");  // no longer pending: its agent confirmed
        el.querySelectorAll("[data-pending-note]").forEach((note) => note.remove());
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

  // The live region as the hub renders it now, or null: the fragment view, or
  // for pages without one (the task list) the whole page's region.
  async function fetchRegion() {
    const wholePage = region.dataset.liveTasks !== undefined;
    const url = new URL(location.href);
    if (!wholePage) url.searchParams.set("fragment", "1");
    const response = await fetch(url, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" });
    if (response.status === 404 && filePath !== undefined) {
      if (status) status.textContent = "This file was deleted on the host.";
      return null;
    }
    if (!response.ok) return null;
    const html = await response.text();
    if (!wholePage) return html;
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-region");
    return fresh ? fresh.innerHTML : null;
  }

  // Paths changed since the last refresh began (null: none announced).
  let changed = null;
  const refreshRegion = window.codexhubSingleFlight(async () => {
    const changedPaths = changed;
    changed = null;
    const html = await fetchRegion();
    if (html === null) return;
    region.innerHTML = html;  // HTML rendered and escaped by the hub
    (changedPaths || []).forEach((path) => {
      region.querySelectorAll("[data-path]").forEach((el) => {
        if (el.dataset.path === path) el.classList.add("changed");
      });
    });
    if (status && changedPaths) {
      const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      status.textContent = `Updated ${time}`;
    }
  });

  function refresh(changedPaths) {
    if (!region) return;
    if (changedPaths) changed = (changed || []).concat(changedPaths);
    refreshRegion();
  }

  function onChanged(message) {
    if (message.project !== projectId) return;
    const paths = message.changes.map((change) => change.path);
    if (filePath !== undefined && !paths.some((p) => p === filePath || filePath.startsWith(p + "/"))) return;
    refresh(paths);
  }

  let connectedBefore = false;
  window.codexhubSocket({
    // A page that follows a project is open once subscribed, not merely connected.
    openWhenConnected: projectId === null,
    onOpen: (send) => { if (projectId !== null) send({ type: "subscribe", project: projectId }); },
    onMessage: (message) => {
      if (message.type === "hello") {
        (message.hosts || []).forEach(renderHost);
        if (connectedBefore) refresh(null);  // catch up on what happened while away
        connectedBefore = true;
      }
      if (message.type === "subscribed") document.body.dataset.live = "open";
      if (message.type === "host.presence") renderHost(message.host);
      if (message.type === "mirror.changed") onChanged(message);
      if (message.type === "projects.changed" && region && region.dataset.liveProjects !== undefined) refresh(null);
      if (message.type === "task.changed" && region && region.dataset.liveTasks !== undefined) refresh(null);
    },
  });
})();

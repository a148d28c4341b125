// Live updates over /ws/ui/ on pages marked with [data-live]. The socket only
// rings the bell: pages re-fetch their live part as HTML, and every
// (re)connect re-syncs, so nothing is missed while the socket was down.
// A folder's page (and the project page, its top folder) patches the rows that
// changed instead; the hub tells each page every change to what it shows.
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

  const folder = region ? region.dataset.liveFolder : undefined;  // "" on the project page

  function stamp() {
    if (!status) return;
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    status.textContent = `Updated ${time}`;
  }

  // "Deleted on the host", with a link to where it went when the hub saw it move.
  function gone(what, movedTo) {
    if (!status) return;
    status.textContent = `This ${what} was deleted on the host.`;
    if (movedTo && projectId !== null) {
      const link = document.createElement("a");
      const kind = what === "file" ? "files" : "tree";
      link.href = `/projects/${projectId}/${kind}/${movedTo.split("/").map(encodeURIComponent).join("/")}`;
      link.textContent = movedTo;
      status.textContent = `This ${what} was renamed on the host to `;
      status.append(link);
    }
    region.classList.add("gone");
  }

  // A page of a project its host stopped sharing says so (the hub answers 404 for it now).
  const checkProjectShared = window.codexhubSingleFlight(async () => {
    const response = await fetchPart({ fragment: "1" });
    if (response.status !== 404 || !status) return;
    status.textContent = "This project is no longer shared by its host.";
    status.classList.replace("muted", "error");
    document.querySelectorAll(".task-card").forEach((card) => { card.hidden = true; });  // it takes no task
    region.classList.add("gone");
  });

  async function fetchPart(params) {
    const url = new URL(location.href);
    Object.entries(params).forEach(([key, value]) => {
      (Array.isArray(value) ? value : [value]).forEach((item) => url.searchParams.append(key, item));
    });
    return fetch(url, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" });
  }

  // The live region as the hub renders it now, or null: the fragment view, or
  // for pages without one (the task list, a host's page) the whole page's region.
  async function fetchRegion() {
    const wholePage = region.dataset.liveTasks !== undefined || region.dataset.liveHost !== undefined;
    const url = new URL(location.href);
    if (!wholePage) url.searchParams.set("fragment", "1");
    const response = await fetch(url, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" });
    if (response.status === 404 && filePath !== undefined) {
      gone("file", movedTo);
      return null;
    }
    if (!response.ok) return null;
    const html = await response.text();
    if (!wholePage) return html;
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-region");
    return fresh ? fresh.innerHTML : null;
  }

  let movedTo = null;  // where the page's file or folder went, when a batch moved it
  const refreshRegion = window.codexhubSingleFlight(async () => {
    const html = await fetchRegion();
    if (html === null) return;
    region.innerHTML = html;  // HTML rendered and escaped by the hub
    region.classList.remove("gone");
    stamp();
  });

  function refresh() {
    if (!region) return;
    if (folder !== undefined) {
      refreshListing();
      if (folder === "") refreshSummary();
    } else {
      refreshRegion();
    }
  }

  // Folder and project pages: rows are patched, not the page re-fetched. ----------------

  const ROW_NAMES = 50;  // the hub answers at most this many rows at once (projects/views.py)
  const pendingRows = new Set();  // names in the folder to fetch again

  function listingRoot() { return region.querySelector("[data-listing]"); }

  function rowOf(name) {
    return Array.from(region.querySelectorAll("li.entry")).find((li) => li.dataset.name === name) || null;
  }

  // The order of services.entry_order: folders first, then by name without case.
  function sortKey(li) { return [li.dataset.kind === "dir" ? 0 : 1, li.dataset.name.toLowerCase(), li.dataset.name]; }
  function before(a, b) {
    for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] < b[i];
    return false;
  }

  // A new row goes where the hub would list it, if that is on this page.
  function insertRow(li) {
    const root = listingRoot();
    let list = root && root.querySelector("ul.entries");
    if (!root) return;
    const rows = list ? Array.from(list.children) : [];
    const key = sortKey(li);
    const page = Number(root.dataset.page), pages = Number(root.dataset.pages);
    if (rows.length && page > 1 && before(key, sortKey(rows[0]))) return;  // on an earlier page
    if (rows.length && page < pages && before(sortKey(rows[rows.length - 1]), key)) return;  // on a later one
    if (!list) { refreshListing(); return; }  // the folder was empty: its listing is built by the hub
    const next = rows.find((row) => before(key, sortKey(row)));
    list.insertBefore(li, next || null);
  }

  const refreshListing = window.codexhubSingleFlight(async () => {
    pendingRows.clear();  // the whole page is fetched: every row is current
    const response = await fetchPart({ fragment: "1" });
    const target = region.querySelector("#listing");
    if (response.status === 404 && folder) { gone("folder", movedTo); return; }
    if (!response.ok || !target) return;
    target.innerHTML = await response.text();  // rendered and escaped by the hub
    region.classList.remove("gone");
    stamp();
  });

  const patchRows = window.codexhubSingleFlight(async () => {
    const names = Array.from(pendingRows);
    pendingRows.clear();
    if (!names.length) return;
    const response = await fetchPart({ fragment: "rows", name: names });
    if (!response.ok) { refreshListing(); return; }
    const fresh = document.createElement("ul");
    fresh.innerHTML = await response.text();  // rendered and escaped by the hub
    const found = new Set();
    Array.from(fresh.children).forEach((li) => {
      found.add(li.dataset.name);
      li.classList.add("changed");
      const old = rowOf(li.dataset.name);
      if (old) old.replaceWith(li); else insertRow(li);
    });
    names.filter((name) => !found.has(name)).forEach((name) => markGone(rowOf(name)));
    stamp();
  });

  function markGone(li) {
    if (!li || li.classList.contains("gone")) return;
    li.classList.add("gone", "changed");
    const link = li.querySelector("a.leaf");
    if (link) {
      const span = document.createElement("span");
      span.className = link.className;
      span.append(...link.childNodes);
      link.replaceWith(span);
    }
    const meta = li.querySelector(".entry-meta");
    if (meta) meta.textContent = "deleted on the host";
  }

  const refreshSummary = window.codexhubSingleFlight(async () => {
    const response = await fetchPart({ fragment: "changes" });
    const target = region.querySelector("#summary");
    if (!response.ok || !target) return;
    target.innerHTML = await response.text();  // rendered and escaped by the hub
    const summary = target.querySelector("[data-file-count]");
    const shown = region.querySelector("[data-files-shown]");
    if (summary && shown) {
      const count = Number(summary.dataset.fileCount);
      shown.textContent = `${count} file${count === 1 ? "" : "s"}`;
    }
  });

  function onFolderChanged(message) {
    const prefix = folder ? folder + "/" : "";
    let whole = false;
    const names = new Map();  // name -> the last op on it in the batch
    message.changes.forEach((change) => {
      const path = change.path;
      if (folder && (path === folder || folder.startsWith(path + "/"))) whole = true;  // the folder itself
      else if (path.startsWith(prefix) && !path.slice(prefix.length).includes("/")) {
        names.set(path.slice(prefix.length), change.op);
      }
    });
    if (folder === "" ) refreshSummary();
    if (whole) { refreshListing(); return; }
    names.forEach((op, name) => {
      if (op === "deleted") markGone(rowOf(name)); else pendingRows.add(name);
    });
    if (pendingRows.size > ROW_NAMES) refreshListing();
    else if (pendingRows.size) patchRows();
    else if (names.size) stamp();
  }

  function onChanged(message) {
    if (message.project !== projectId || !region) return;
    if (message.moved_to) movedTo = message.moved_to;
    if (folder !== undefined) { onFolderChanged(message); return; }
    // The file page: the hub sends only the changes to its file or a folder above it.
    if (filePath !== undefined && !message.changes.length) return;
    refreshRegion();
  }

  function subscription() {
    if (folder !== undefined) return { type: "subscribe", project: projectId, folder };
    if (filePath !== undefined) return { type: "subscribe", project: projectId, path: filePath };
    return { type: "subscribe", project: projectId };
  }

  let connectedBefore = false;
  window.codexhubSocket({
    // A page that follows a project is open once subscribed, not merely connected.
    openWhenConnected: projectId === null,
    onOpen: (send) => { if (projectId !== null) send(subscription()); },
    onMessage: (message) => {
      if (message.type === "hello") {
        (message.hosts || []).forEach(renderHost);
        if (connectedBefore) refresh();  // catch up on what happened while away
        // A page waiting for its host may have missed the answer while it was loading.
        else if (region && projectId === null && region.dataset.waiting !== undefined) refreshRegion();
        connectedBefore = true;
      }
      if (message.type === "subscribed") {
        document.body.dataset.live = "open";
        // A page waiting for its host (the repository page) may have missed the answer
        // while it was subscribing: look again once subscribed.
        if (region && region.dataset.waiting !== undefined) refreshRegion();
        // An empty listing (a project just shared) may have missed its first files while
        // the page subscribed: look again.
        else if (region && folder !== undefined && !region.querySelector("li.entry")) refresh();
      }
      if (message.type === "host.presence") renderHost(message.host);
      if (message.type === "mirror.changed") onChanged(message);
      if (message.type === "projects.changed" && region && region.dataset.liveProjects !== undefined) refreshRegion();
      if (message.type === "projects.changed" && projectId !== null) checkProjectShared();
      if (message.type === "task.changed" && region && region.dataset.liveTasks !== undefined) refreshRegion();
      if (message.type === "codex.threads" && region && region.dataset.liveCodex === String(message.host)) refreshRegion();
      if (message.type === "host.changed" && region && region.dataset.liveHost === String(message.host)) refreshRegion();
    },
  });
})();

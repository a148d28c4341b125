// The task page: status and log, live. The socket only rings the bell; the
// log is fetched by sequence number (`after`), so a line is shown once, in
// order, whatever the socket dropped or repeated.
"use strict";

(function () {
  const region = document.getElementById("task-region");
  if (!region) return;
  const taskId = Number(region.dataset.task);
  const logUrl = region.dataset.logUrl;
  const log = document.getElementById("task-log");
  const empty = document.getElementById("log-empty");
  let lastSeq = Number(region.dataset.lastSeq || 0);

  function stateOf(root) {
    const status = root.querySelector("[data-state]");
    return status ? status.dataset.state : "";
  }
  document.body.dataset.taskState = stateOf(region);

  let pulling = null;
  let pullAgain = false;
  async function pullLog() {
    if (pulling) { pullAgain = true; return pulling; }
    pulling = (async () => {
      do {
        pullAgain = false;
        const response = await fetch(`${logUrl}?after=${lastSeq}`, { credentials: "same-origin" });
        if (!response.ok) return;
        const data = await response.json();
        const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
        for (const chunk of data.chunks) {
          if (chunk.seq <= lastSeq) continue;
          log.append(document.createTextNode(chunk.text));  // text, never HTML
          lastSeq = chunk.seq;
        }
        if (lastSeq > 0) empty.hidden = true;
        if (follow) log.scrollTop = log.scrollHeight;
        if (data.chunks.length >= 500) pullAgain = true;
      } while (pullAgain);
    })();
    try { await pulling; } finally { pulling = null; }
  }

  let refreshing = false;
  async function refreshStatus() {
    if (refreshing) return;
    refreshing = true;
    try {
      const response = await fetch(`${location.pathname}?fragment=1`, { credentials: "same-origin" });
      if (!response.ok) return;
      region.innerHTML = await response.text();  // HTML rendered and escaped by the hub
      document.body.dataset.taskState = stateOf(region);
    } finally {
      refreshing = false;
    }
  }

  window.codexhubSocket({
    openWhenConnected: false,  // open once subscribed to this task
    onOpen: (send) => send({ type: "subscribe", task: taskId }),
    onMessage: (message) => {
      if (message.type === "subscribed" && message.task === taskId) {
        document.body.dataset.live = "open";
        pullLog().then(refreshStatus);  // catch up on what happened while away
      }
      if (message.task !== taskId) return;
      if (message.type === "task.log") pullLog();
      if (message.type === "task.changed") pullLog().then(refreshStatus);
    },
  });
})();

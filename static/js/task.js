// The task page: status, log and an agent session's timeline, live. The
// socket only rings the bell; the log is fetched by sequence number (`after`),
// so a line is shown once, in order, whatever the socket dropped or repeated.
"use strict";

const TIMELINE_EVENTS = new Set(["task.item", "task.permission", "task.turn", "task.changed"]);

// An agent session, or a command task's structured output: the timeline is HTML the hub
// renders (and escapes), fetched again on each event, at most every 250 ms; answers and
// follow-ups go by fetch.
window.codexhubSession = function () {
  const timeline = document.getElementById("timeline");
  if (!timeline) return null;
  const composer = document.getElementById("followup");
  const composerText = document.getElementById("followup-text");
  const composerError = document.getElementById("followup-error");

  // What the reader opened or closed by hand survives each fetch; the rest
  // follows the hub (a pending request's diff opens, an answered one's not).
  const chosen = new Map();
  function rememberChoices() {
    timeline.querySelectorAll("details[data-key]").forEach((d) => {
      if (d.open !== (d.dataset.open === "1")) chosen.set(d.dataset.key, d.open);
      else chosen.delete(d.dataset.key);
    });
  }

  function followsEnd() {
    return timeline.getBoundingClientRect().bottom <= window.innerHeight + 48;
  }

  function showComposer() {
    const body = timeline.querySelector(".timeline-body");
    if (composer && body) composer.hidden = body.dataset.sessionOpen !== "1";
    // A running command task's conversation waits hidden until its structured output sent entries.
    const conversation = document.getElementById("conversation");
    if (conversation && body && body.dataset.entries !== "0") conversation.hidden = false;
  }

  const refresh = window.codexhubSingleFlight(async () => {
    const response = await fetch(timeline.dataset.url, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    rememberChoices();
    const follow = followsEnd();
    const before = timeline.getBoundingClientRect().bottom;
    timeline.innerHTML = html;  // rendered and escaped by the hub
    timeline.querySelectorAll("details[data-key]").forEach((d) => {
      if (chosen.has(d.dataset.key)) d.open = chosen.get(d.dataset.key);
    });
    showComposer();
    if (follow) window.scrollBy(0, timeline.getBoundingClientRect().bottom - before);
  }, { minGap: 250 });

  async function post(form, submitter) {
    const data = new FormData(form);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    let answer = {};
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      answer = await response.json().catch(() => ({ error: `The hub answered ${response.status}.` }));
    } catch (error) {
      answer = { error: "No connection to the hub. Try again." };
    }
    return answer;
  }

  function tell(error) {
    if (window.codexhubToast) window.codexhubToast({ title: "Not sent", body: error, url: location.pathname });
  }

  // Answers, Stop turn and End session: buttons inside the timeline.
  timeline.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-fetch]");
    if (!form) return;
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    const answer = await post(form, event.submitter);
    if (answer.error) {
      tell(answer.error);
      buttons.forEach((b) => { b.disabled = false; });
    }
    refresh();
  });

  if (composer) {
    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const send = composer.querySelector("button[type=submit]");
      send.disabled = true;
      composerError.hidden = true;
      const answer = await post(composer);
      send.disabled = false;
      if (answer.error) {  // keep the text: nothing was sent
        composerError.textContent = answer.error;
        composerError.hidden = false;
        tell(answer.error);
        return;
      }
      composerText.value = "";
      refresh();
    });
    composerText.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) composer.requestSubmit();
    });
  }

  showComposer();
  return { refresh };
};

// The decide panel of a task's changes (tasks/gitpanel.py): HTML the hub renders,
// fetched again on each task.changed. Each decision is a <details> sheet whose form
// goes by fetch; the sheets a person opened and what they typed survive each fetch.
window.codexhubGitPanel = function () {
  const region = document.getElementById("git-region");
  if (!region) return null;

  function remember() {
    const kept = { open: new Set(), values: new Map() };
    region.querySelectorAll("details[data-key]").forEach((d) => { if (d.open) kept.open.add(d.dataset.key); });
    region.querySelectorAll("[data-keep]").forEach((field) => kept.values.set(field.id, field.value));
    return kept;
  }

  function restore(kept) {
    region.querySelectorAll("details[data-key]").forEach((d) => { if (kept.open.has(d.dataset.key)) d.open = true; });
    region.querySelectorAll("[data-keep]").forEach((field) => {
      if (kept.values.has(field.id)) field.value = kept.values.get(field.id);
    });
  }

  const refresh = window.codexhubSingleFlight(async () => {
    const response = await fetch(region.dataset.url, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    const kept = remember();
    region.innerHTML = html;  // rendered and escaped by the hub
    restore(kept);
  }, { minGap: 250 });

  region.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-git]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const error = form.querySelector("[data-git-error]");
    button.disabled = true;
    error.hidden = true;
    let answer;
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" },
      });
      answer = await response.json().catch(() => ({ error: `The hub answered ${response.status}.` }));
    } catch (e) {
      answer = { error: "No connection to the hub. Try again." };
    }
    button.disabled = false;
    if (answer.error) {  // nothing was sent: the sheet stays open with what was typed
      error.textContent = answer.error;
      error.hidden = false;
      return;
    }
    if (answer.url) { location.assign(answer.url); return; }  // Continue: the new task's page
    const sheet = form.closest("details");
    if (sheet) sheet.open = false;
    form.querySelectorAll("[data-keep]").forEach((field) => { field.value = field.defaultValue; });
    refresh();
  });

  return { refresh };
};

// A computer task's screen, live (tasks/live.py): while the card is shown the page asks for
// frames every 5 s (the host sends them for 15 s after each ask), and says when it showed each
// one, so a slow phone gets the latest frame, never a backlog. Frames are data: URLs of the
// JPEG or PNG the host sent; nothing is kept. The card says when the task ended.
window.codexhubLiveView = function (taskId) {
  const card = document.getElementById("live-view");
  if (!card) return null;
  const image = document.getElementById("live-frame");
  const badge = document.getElementById("live-state");
  const note = document.getElementById("live-note");
  let send = null;
  let ended = false;

  function watch() {
    if (send && !ended && document.visibilityState === "visible") send({ type: "watch", task: taskId });
  }
  function shown() { if (send) send({ type: "frame.shown", task: taskId }); }
  image.addEventListener("load", shown);
  image.addEventListener("error", shown);
  setInterval(watch, 5000);
  document.addEventListener("visibilitychange", watch);

  return {
    open(sender) { send = sender; watch(); },
    frame(message) {
      if (ended) return;
      image.src = `data:${message.mime};base64,${message.data}`;
      image.dataset.frame = String(message.frame);
      image.hidden = false;
      card.dataset.state = "live";
      badge.textContent = "Live";
    },
    end(words) {
      if (ended) return;
      ended = true;
      image.hidden = true;
      image.removeAttribute("src");
      card.dataset.state = "ended";
      badge.textContent = "Ended";
      note.textContent = `The task ${words}: the screen is no longer shown. The screenshot after each step is kept with the task.`;
      const stop = document.getElementById("live-stop");
      if (stop) stop.hidden = true;
    },
  };
};

(function () {
  const region = document.getElementById("task-region");
  if (!region) return;
  const ENDED = { succeeded: "succeeded", failed: "failed", cancelled: "was stopped", expired: "expired" };
  const taskId = Number(region.dataset.task);
  const logUrl = region.dataset.logUrl;
  const log = document.getElementById("task-log");
  const empty = document.getElementById("log-empty");
  let lastSeq = Number(region.dataset.lastSeq || 0);
  let carry = region.dataset.logCarry || "";  // colours in force at lastSeq, for the hub's renderer

  function stateOf(root) {
    const status = root.querySelector("[data-state]");
    return status ? status.dataset.state : "";
  }

  const pullLog = window.codexhubSingleFlight(async () => {
    let more = true;
    while (more) {
      const query = new URLSearchParams({ after: String(lastSeq), carry });
      const response = await fetch(`${logUrl}?${query}`, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
      // Pulls run one at a time (single flight): the chunks follow lastSeq, each rendered after the
      // one before it. HTML the hub rendered and escaped: colours as classes, nothing else.
      for (const chunk of data.chunks) {
        log.insertAdjacentHTML("beforeend", chunk.html);
        lastSeq = chunk.seq;
      }
      if (data.chunks.length) carry = data.carry;
      if (lastSeq > 0) empty.hidden = true;
      if (follow) log.scrollTop = log.scrollHeight;
      more = data.chunks.length >= 500;  // a full page: there may be more
    }
  });

  let statusHtml = null;
  const refreshStatus = window.codexhubSingleFlight(async () => {
    const response = await fetch(`${location.pathname}?fragment=1`, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    // The same again (one change rings the page more than once; each answer masks its CSRF token
    // anew): the screenshots stay as they are.
    const same = html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
    if (same !== statusHtml) region.innerHTML = html;  // HTML rendered and escaped by the hub
    statusHtml = same;
    followState();
  });

  const session = window.codexhubSession ? window.codexhubSession() : null;
  const gitPanel = window.codexhubGitPanel ? window.codexhubGitPanel() : null;
  const liveView = window.codexhubLiveView ? window.codexhubLiveView(taskId) : null;
  let sender = null;

  function followState() {
    const state = stateOf(region);
    document.body.dataset.taskState = state;
    if (liveView && ENDED[state]) liveView.end(ENDED[state]);
  }
  followState();

  window.codexhubSocket({
    openWhenConnected: false,  // open once subscribed to this task
    onOpen: (send) => { sender = send; send({ type: "subscribe", task: taskId }); },
    onMessage: (message) => {
      const subscribed = message.type === "subscribed" && message.task === taskId;
      if (subscribed) document.body.dataset.live = "open";
      if (subscribed && liveView) liveView.open(sender);
      // Subscribed (after each connect), or a hello while connected: the hub
      // may have lost events meanwhile (Redis went away), so catch up.
      if (subscribed || (message.type === "hello" && document.body.dataset.live === "open")) {
        pullLog().then(refreshStatus);
        if (session) session.refresh();
        if (gitPanel) gitPanel.refresh();
      }
      if (message.task !== taskId) return;
      if (message.type === "task.log") pullLog();
      if (message.type === "task.step") refreshStatus();  // a step's result, as it happens
      if (message.type === "computer.frame" && liveView) liveView.frame(message);
      if (message.type === "task.changed") {
        pullLog().then(refreshStatus);
        if (gitPanel) gitPanel.refresh();
      }
      if (session && TIMELINE_EVENTS.has(message.type)) session.refresh();
    },
  });
})();

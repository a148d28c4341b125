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

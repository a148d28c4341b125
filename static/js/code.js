// The file page's code tools: "Wrap lines" (remembered on this device) and "Copy"
// (the code only: the line numbers are CSS counters, not text). The live region
// replaces the code when the file changes, so the code is looked up on each use.
(function () {
  "use strict";
  var tools = document.querySelector("[data-code-tools]");
  if (!tools) return;
  var KEY = "codexhub.wrapLines";
  var wrap = tools.querySelector("[data-wrap-lines]");
  var copy = tools.querySelector("[data-copy-code]");
  var status = tools.querySelector("[data-copy-status]");
  var root = document.documentElement;

  function stored() {
    try { return localStorage.getItem(KEY); } catch (error) { return null; }
  }
  function setWrap(on) {
    root.classList.toggle("wrap-code", on);
    wrap.checked = on;
  }
  setWrap(stored() !== "0");  // wrapped unless this device chose otherwise
  wrap.addEventListener("change", function () {
    setWrap(wrap.checked);
    try { localStorage.setItem(KEY, wrap.checked ? "1" : "0"); } catch (error) { /* private mode */ }
  });

  function code() {
    return document.querySelector("#file-body pre");
  }
  function selectCode(pre) {
    var range = document.createRange();
    range.selectNodeContents(pre);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function fallback(pre) {
    selectCode(pre);
    status.textContent = "Could not copy here: the code is selected, copy it from your phone's menu.";
  }
  copy.addEventListener("click", function () {
    var pre = code();
    if (!pre) return;
    var text = pre.textContent;
    if (!navigator.clipboard || !window.isSecureContext) { fallback(pre); return; }
    navigator.clipboard.writeText(text).then(function () {
      status.textContent = "Copied " + text.split("\n").filter(function (line, i, all) {
        return i < all.length - 1 || line !== "";
      }).length + " lines.";
    }, function () { fallback(pre); });
  });
  tools.hidden = false;
})();

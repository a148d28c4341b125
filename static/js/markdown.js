// A README's image that the hub could not get from the host (offline, refused, too slow)
// shows its alt text and why, instead of a broken-image icon. Capturing: image errors do
// not bubble, and the live region replaces the body's images when the file changes.
(function () {
  "use strict";
  function replace(img) {
    var box = document.createElement("span");
    box.className = "md-image";
    var alt = document.createElement("span");
    alt.className = "md-image-alt";
    alt.textContent = img.getAttribute("alt") || "image";
    var note = document.createElement("span");
    note.className = "md-image-note";
    note.textContent = "(the host did not send it; reload to try again)";
    box.append(alt, " ", note);
    img.replaceWith(box);
  }
  document.addEventListener("error", function (event) {
    var img = event.target;
    if (img instanceof HTMLImageElement && img.hasAttribute("data-raw-image")) replace(img);
  }, true);
  // Those that failed before this script ran.
  document.querySelectorAll("img[data-raw-image]").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0 && img.currentSrc) replace(img);
  });
})();

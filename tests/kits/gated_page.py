"""A page for a loopback site whose text "Released" shows only once the test calls `release()`,
so a browser step that waits for it is still running while the test looks:

    self.gate = Gate()  # in the site's __init__
    return self.gate.answer(request.route) or ...  # first in its answer()
"""

from __future__ import annotations

import threading

from tests.kits.loopback import Reply, html_reply

# "Ready" at once; "Released" once /gate says open (asked every 100 ms).
PAGE = """<!doctype html><html><body><p id="first">Ready</p><p id="later">Waiting</p><script>
function ask() {
  fetch("/gate").then((r) => r.text()).catch(() => "closed").then((state) => {
    if (state === "open") document.getElementById("later").textContent = "Released";
    else setTimeout(ask, 100);
  });
}
ask();
</script></body></html>"""


class Gate:
    def __init__(self) -> None:
        self._open = threading.Event()

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def answer(self, route: str) -> Reply | None:
        """The page (/later) and its question (/gate); None for any other route."""
        if route == "/later":
            return html_reply(PAGE)
        if route == "/gate":
            state = b"open" if self._open.is_set() else b"closed"
            return Reply(200, state, {"Content-Type": "text/plain", "Cache-Control": "no-store"})
        return None

"""The `browser` executor: a task's steps in the host's own Chrome or Chromium, through Playwright.

One browser per task, launched from `executable_path` or `channel` (never a
download) with a persistent profile (`profile_dir`) or a fresh context, and
always closed at the end: success, failure, cancel, timeout or an exception.

The allow-list (`allowed_sites`, SECURITY.md 73) holds at three places:

1. `open` URLs are judged before the browser starts (browser_steps) and again
   before `page.goto`: only http(s) to an allowed host:port;
2. `context.route("**/*")` aborts every routed request to a site not on the
   list (navigations, subresources, fetch) and every scheme but http(s),
   `data:`, `blob:` and `about:`; `route_web_socket` closes WebSockets to one;
   `service_workers="block"`, since Playwright does not route their requests;
3. the browser's only way out is the agent's filtering proxy (browser_gate),
   which also stops what routing never sees, such as a redirect's target.

Downloads are accepted only with `downloads_dir`, and saved there under the
name the site suggests (made safe, never overwriting); without it they are
refused. A step fails when its own page navigation was blocked (`blocked by the
allow-list: URL`, `redirected to HOST, not allowed`); other blocked requests
are written to the task log. The first failed step ends the task. Each step's
result also goes out as it ends (`on_step`: the service sends `task.step`).
Screenshots and PDFs are uploaded to the hub (`api.put_artifact`) during their
step; a failed upload fails the step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hostagent import api
from hostagent.config import MAX_ARTIFACT
from hostagent.tasks.browser_gate import SiteGate
from hostagent.tasks.browser_steps import quoted, step_label
from hostagent.tasks.environment import BASE_ENV
from hostagent.tasks.executors import Executor, RunResult, seconds
from hostagent.tasks.output import TaskLog
from hostagent.tasks.sites import SCHEME_PORTS, SiteError, SiteList, display, normalize_host
from protocol.limits import MAX_RESULT_TEXT

log = logging.getLogger("hostagent.tasks.browser")

# ../shared/STACK.md, "Playwright with Debian's chromium"; WebRTC must not open UDP around the proxy.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
# What a headed browser needs from the agent's environment besides BASE_ENV; never CODEXHUB_*.
DISPLAY_ENV = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
MAX_READ = MAX_RESULT_TEXT  # characters of a `read` result
CLOSE_TIMEOUT = 10.0
DOWNLOAD_GRACE = 1.0  # a download the last step started may be reported this late
COUNT_TIMEOUT = 2.0
PASS_SCHEMES = ("data", "blob", "about")  # never leave the browser
MAX_REASON = 240

Upload = Callable[[str, bytes, str], Awaitable[None]]


class StepFailed(Exception):
    """The step cannot go on; the message is the reason."""


class UploadError(Exception):
    pass


@dataclass
class _Block:
    url: str
    reason: str
    navigation: bool  # the page's own (main frame) navigation


def browser_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    names = dict.fromkeys((*BASE_ENV, *DISPLAY_ENV))
    return {n: environ[n] for n in names if n in environ and not n.upper().startswith("CODEXHUB_")}


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hub_uploader(hub: str, token: str, task_id: int) -> Upload:
    async def upload(name: str, data: bytes, content_type: str) -> None:
        if not hub:
            raise UploadError("no hub to upload to")
        try:
            await asyncio.to_thread(api.put_artifact, hub, token, task_id, name, data, content_type)
        except (api.ApiError, api.HubUnreachable, api.InsecureHubUrl) as exc:
            raise UploadError(str(exc)) from None

    return upload


async def run_browser(
    executor: Executor,
    steps: list[dict[str, Any]],
    task_log: TaskLog,
    cancel: asyncio.Event,
    upload: Upload,
    results: list[dict[str, Any]],
    *,
    on_step: Callable[[dict[str, Any]], Awaitable[object]] | None = None,
) -> RunResult:
    """Run `steps`, appending one result per step that ran to `results` and passing each to
    `on_step` as it comes; the browser is closed on return."""
    session = _Session(executor, task_log, upload, results)
    session.on_step = on_step
    runner = asyncio.create_task(session.run(steps))
    cancelled = asyncio.create_task(cancel.wait())
    try:
        await asyncio.wait({runner, cancelled}, timeout=executor.timeout, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            return runner.result()
        if cancelled.done():
            session.interrupted, result = "cancelled", RunResult("cancelled")
        else:
            limit = f"timed out after {seconds(executor.timeout)} s"
            session.interrupted, result = f"the task {limit}", RunResult("failed", error=limit)
        await session.close()  # the step waiting on the browser fails at once
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(runner), CLOSE_TIMEOUT)
        return result
    finally:
        cancelled.cancel()
        if not runner.done():
            runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await session.close()
        await task_log.flush(final=True)


class _Session:
    def __init__(self, executor: Executor, task_log: TaskLog, upload: Upload, results: list[dict[str, Any]]):
        self.executor = executor
        self.task_log = task_log
        self.upload = upload
        self.results = results
        self.sites = SiteList(executor.allowed_sites)
        self.gate = SiteGate(self.sites)
        self.blocks: list[_Block] = []
        self.interrupted: str | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self.page: Any = None
        self._closing: asyncio.Task[None] | None = None
        self._saves: set[asyncio.Task[None]] = set()
        self.on_step: Callable[[dict[str, Any]], Awaitable[object]] | None = None

    # Lifecycle ---------------------------------------------------------------------

    async def run(self, steps: list[dict[str, Any]]) -> RunResult:
        try:
            error = await self._start()
            if error is not None:
                await self.task_log.note(f"{error}\n")
                return RunResult("failed", error=error)
            for index, step in enumerate(steps):
                if self.interrupted:
                    return RunResult("failed", error=self.interrupted)
                result = await self._step(index, step)
                self.results.append(result)
                if self.on_step is not None:
                    await self.on_step(dict(result))
                if not result["ok"]:
                    return RunResult("failed", error=result["error"])
            return RunResult("succeeded")
        finally:
            if self.executor.downloads_dir and not self.interrupted and self.page is not None:
                await asyncio.sleep(DOWNLOAD_GRACE)
            await self.close()

    async def _start(self) -> str | None:
        """Launch the browser; why it could not, or None."""
        try:
            from playwright.async_api import Error, async_playwright
        except ImportError:
            return "cannot start the browser: the playwright package is not installed"
        ex = self.executor
        proxy = await self.gate.start()
        options: dict[str, Any] = {
            "headless": ex.headless,
            "args": list(LAUNCH_ARGS),
            "proxy": {"server": proxy},
            "env": browser_env(),
        }
        if ex.executable_path:
            options["executable_path"] = ex.executable_path
        else:
            options["channel"] = ex.channel
        context_options: dict[str, Any] = {
            "service_workers": "block",
            "accept_downloads": bool(ex.downloads_dir),
        }
        try:
            if ex.downloads_dir:
                await asyncio.to_thread(os.makedirs, ex.downloads_dir, 0o700, True)
                options["downloads_path"] = ex.downloads_dir
            if ex.profile_dir:
                await asyncio.to_thread(os.makedirs, ex.profile_dir, 0o700, True)
        except OSError as exc:
            return f"cannot start the browser: {exc.strerror or exc} ({exc.filename})"
        try:
            self._playwright = await async_playwright().start()
            chromium = self._playwright.chromium
            if ex.profile_dir:
                self._context = await chromium.launch_persistent_context(
                    ex.profile_dir, **options, **context_options
                )
            else:
                self._browser = await chromium.launch(**options)
                self._context = await self._browser.new_context(**context_options)
            await self._context.route("**/*", self._route)
            await self._context.route_web_socket("**/*", self._route_web_socket)
            self._context.on("request", self._on_request)
            if ex.downloads_dir:
                self._context.on("page", lambda page: page.on("download", self._on_download))
                for page in self._context.pages:
                    page.on("download", self._on_download)
            pages = self._context.pages
            self.page = pages[0] if pages else await self._context.new_page()
            if self.interrupted:
                return self.interrupted
        except Error as exc:
            if self.interrupted:
                return self.interrupted
            what = ex.executable_path or f"channel {ex.channel}"
            return f"cannot start the browser ({what}): {_first_line(exc)}"
        await self.task_log.note(f"browser started ({ex.label}{', headless' if ex.headless else ''})\n")
        return None

    async def close(self) -> None:
        """Close the context, the browser, Playwright's driver and the proxy.

        Callers at the same time share one closing; a later call closes what was started since
        (a cancel can come while the browser is starting)."""
        if self._closing is None or self._closing.done():
            self._closing = asyncio.create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._saves:  # downloads being copied out of the browser's own (deleted) copies
            await asyncio.wait(set(self._saves), timeout=CLOSE_TIMEOUT)
        closers = []
        if self._context is not None:
            closers.append(self._context.close)
        if self._browser is not None:
            closers.append(self._browser.close)
        if self._playwright is not None:
            closers.append(self._playwright.stop)
        self._context = self._browser = self._playwright = None
        for closer in closers:
            try:
                await asyncio.wait_for(closer(), CLOSE_TIMEOUT)
            except Exception as exc:  # closing what is already gone or stuck: the driver's exit kills it
                log.info("closing the browser: %s: %s", type(exc).__name__, exc)
        await self.gate.close()

    # Downloads -----------------------------------------------------------------------

    def _on_download(self, download: Any) -> None:
        task = asyncio.create_task(self._save(download))
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)

    async def _save(self, download: Any) -> None:
        folder = self.executor.downloads_dir
        path = None
        try:
            path = await asyncio.to_thread(reserve_file, folder, download.suggested_filename)
            await download.save_as(path)
        except Exception as exc:
            if path is not None:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(os.unlink, path)
            await self.task_log.note(
                f"download {quoted(download.suggested_filename)} not saved: {_first_line(exc)}\n"
            )
            return
        await self.task_log.note(f"download saved: {path}\n")

    # The allow-list ----------------------------------------------------------------

    def _request_error(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme.lower()
        if scheme in PASS_SCHEMES:
            return None
        return self.sites.url_error(url, schemes=("http", "https", "ws", "wss"))

    def _is_navigation(self, request: Any) -> bool:
        try:
            return bool(request.is_navigation_request() and request.frame == self.page.main_frame)
        except Exception:  # a service worker's request has no frame
            return False

    async def _route(self, route: Any) -> None:
        request = route.request
        try:
            if self._request_error(request.url) is None:
                await route.continue_()
                return
            self.blocks.append(
                _Block(
                    request.url,
                    f"blocked by the allow-list: {shorten(request.url)}",
                    self._is_navigation(request),
                )
            )
            await route.abort("blockedbyclient")
        except Exception as exc:  # the page or the browser went away meanwhile
            log.debug("route: %s", exc)

    async def _route_web_socket(self, ws: Any) -> None:
        if self._request_error(ws.url) is None:
            ws.connect_to_server()
            return
        self.blocks.append(_Block(ws.url, f"blocked by the allow-list: {shorten(ws.url)}", False))
        with contextlib.suppress(Exception):
            await ws.close(code=1008, reason="blocked by the allow-list")

    def _on_request(self, request: Any) -> None:
        # Redirect targets are not routed: the proxy refuses them; this names the rule.
        if request.redirected_from is None or self._request_error(request.url) is None:
            return
        self.blocks.append(
            _Block(
                request.url, f"redirected to {_site(request.url)}, not allowed", self._is_navigation(request)
            )
        )

    # Steps -------------------------------------------------------------------------

    async def _step(self, index: int, step: dict[str, Any]) -> dict[str, Any]:
        from playwright.async_api import Error
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        action = step["action"]
        timeout = float(step.get("timeout", self.executor.step_timeout))
        result: dict[str, Any] = {
            "index": index,
            "action": action,
            "ok": True,
            "error": "",
            "text": None,
            "artifact": None,
        }
        mark = len(self.blocks)
        reason: str | None = None
        notes: list[str] = []
        try:
            self.page.set_default_timeout(timeout * 1000)
            self.page.set_default_navigation_timeout(timeout * 1000)
            handler = getattr(self, f"_do_{action}")
            text, artifact = await handler(index, step, timeout, notes)
            result["text"], result["artifact"] = text, artifact
        except StepFailed as exc:
            reason = str(exc)
        except PlaywrightTimeout:
            reason = await self._timeout_reason(step, timeout)
        except TimeoutError:
            reason = f"timed out after {seconds(timeout)} s"
        except Error as exc:
            reason = _reason(exc)
        blocks = self.blocks[mark:]
        navigation = next((b for b in blocks if b.navigation), None)
        if self.interrupted:
            reason = self.interrupted
        elif navigation is not None:
            reason = navigation.reason  # whatever else went wrong, this is why
        elif reason is not None and blocks:
            reason += f" (the allow-list blocked {shorten(blocks[0].url, 80)}" + (
                f" and {len(blocks) - 1} more)" if len(blocks) > 1 else ")"
            )
        line = f"step {index + 1} {action}{_subject(step)}"
        for block in blocks:
            if block is not navigation:
                await self.task_log.note(f"{line}: {block.reason}\n")
        if reason is not None:
            result["ok"] = False
            result["error"] = f"{step_label(index, step)}: {shorten(reason, MAX_REASON)}"
            result["text"] = result["artifact"] = None
            await self.task_log.note(f"{line}: failed: {reason}\n")
        else:
            extra = f" ({'; '.join(notes)})" if notes else ""
            await self.task_log.note(f"{line}: ok{extra}\n")
        return result

    async def _timeout_reason(self, step: dict[str, Any], timeout: float) -> str:
        """`timed out after 10 s`, or `no element matches "#nope"` when the selector matches nothing."""
        waited = f"timed out after {seconds(timeout)} s"
        selector = step.get("selector")
        if not selector or self.page is None:
            return waited
        try:
            count = await asyncio.wait_for(self.page.locator(selector).count(), COUNT_TIMEOUT)
        except Exception:
            return waited
        if count == 0:
            return f"no element matches {quoted(selector)} (waited {seconds(timeout)} s)"
        if step["action"] == "wait" and not step.get("text"):
            return f"{waited} ({quoted(selector)} is there but not visible)"
        return waited

    async def _do_open(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        error = self.sites.url_error(step["url"])
        if error is not None:
            raise StepFailed(error)
        response = await self.page.goto(step["url"], wait_until="load", timeout=timeout * 1000)
        if response is not None and response.status >= 400:
            notes.append(f"HTTP {response.status}")
        return None, None

    async def _do_click(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        await self.page.locator(step["selector"]).click(timeout=timeout * 1000)
        return None, None

    async def _do_fill(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        await self.page.locator(step["selector"]).fill(step["value"], timeout=timeout * 1000)
        return None, None

    async def _do_press(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        if step.get("selector"):
            await self.page.locator(step["selector"]).press(step["key"], timeout=timeout * 1000)
        else:
            await asyncio.wait_for(self.page.keyboard.press(step["key"]), timeout)
        return None, None

    async def _do_select(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        await self.page.locator(step["selector"]).select_option(step["value"], timeout=timeout * 1000)
        return None, None

    async def _do_wait(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        if step.get("selector"):
            target = self.page.locator(step["selector"])
            if step.get("text"):
                target = target.filter(has_text=step["text"]).first
        else:
            target = self.page.get_by_text(step["text"]).first
        await target.wait_for(state="visible", timeout=timeout * 1000)
        return None, None

    async def _do_read(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        locator = self.page.locator(step["selector"])
        if step.get("attribute"):
            text = await locator.get_attribute(step["attribute"], timeout=timeout * 1000)
            if text is None:
                notes.append(f"no attribute {quoted(step['attribute'])}")
        else:
            text = await locator.inner_text(timeout=timeout * 1000)
        if text is not None and len(text) > MAX_READ:
            notes.append(f"{len(text)} characters, kept the first {MAX_READ}")
            text = text[:MAX_READ]
        return text, None

    async def _do_screenshot(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        limit = self.executor.screenshot_max_bytes
        ms = timeout * 1000
        if step.get("selector"):
            data = await self.page.locator(step["selector"]).screenshot(type="png", timeout=ms)
        else:
            full_page = bool(step.get("full_page"))
            data = await self.page.screenshot(type="png", full_page=full_page, timeout=ms)
            if len(data) > limit and full_page:
                notes.append(f"the full page was {len(data)} bytes: kept the viewport")
                data = await self.page.screenshot(type="png", full_page=False, timeout=ms)
        if len(data) > limit:
            raise StepFailed(f"the screenshot is {len(data)} bytes, over screenshot_max_bytes ({limit})")
        return None, await self._upload(f"step-{index}.png", data, "image/png")

    async def _do_pdf(
        self, index: int, step: dict[str, Any], timeout: float, notes: list[str]
    ) -> tuple[Any, Any]:
        if not self.executor.headless:
            raise StepFailed("a PDF needs a headless browser (headless = true in the executor's config)")
        data = await asyncio.wait_for(self.page.pdf(), timeout)
        if len(data) > MAX_ARTIFACT:
            raise StepFailed(f"the PDF is {len(data)} bytes, over the hub's limit ({MAX_ARTIFACT})")
        return None, await self._upload(f"step-{index}.pdf", data, "application/pdf")

    async def _upload(self, name: str, data: bytes, content_type: str) -> str:
        try:
            await self.upload(name, data, content_type)
        except UploadError as exc:
            raise StepFailed(f"cannot upload {name} to the hub: {exc}") from None
        return name


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def reserve_file(folder: str, suggested: str) -> str:
    """A new file in `folder` named after `suggested` (no path, no control or reserved characters),
    with ` (2)`... before the extension if the name is taken. Created empty, so no one else takes it."""
    name = _UNSAFE_NAME.sub("_", os.path.basename(suggested.replace("\\", "/"))).strip(" .") or "download"
    stem, ext = os.path.splitext(name[:200])
    os.makedirs(folder, 0o700, exist_ok=True)
    for n in range(1, 1000):
        path = os.path.join(folder, f"{stem}{ext}" if n == 1 else f"{stem} ({n}){ext}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise OSError(f"too many files named like {name!r} in {folder}")


def _subject(step: dict[str, Any]) -> str:
    """What the log line shows after the action: the URL, selector, text or key."""
    for key in ("url", "selector", "text", "key"):
        if step.get(key):
            return " " + quoted(step[key])
    return ""


def _site(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        if scheme in SCHEME_PORTS and parts.hostname:
            return display(normalize_host(parts.hostname), parts.port or SCHEME_PORTS[scheme], scheme)
    except (ValueError, SiteError):
        pass
    return f"{scheme}: URL" if scheme else shorten(url, 80)


_PREFIX = re.compile(r"^(?:[A-Za-z]+\.[A-Za-z_]+: )?(?:Error: )?")
_STRICT = re.compile(r"strict mode violation: (.*?) resolved to (\d+) elements")


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return shorten(
        _PREFIX.sub("", message.strip().splitlines()[0] if message.strip() else type(exc).__name__), 200
    )


def _reason(exc: BaseException) -> str:
    """A Playwright error as a readable reason."""
    line = _first_line(exc)
    strict = _STRICT.search(line)
    if strict:
        return f"{strict.group(2)} elements match; the step needs exactly one"
    net = re.search(r"net::ERR_[A-Z_]+", line)
    if net:
        return f"cannot load the page ({net.group(0)})"
    if "closed" in line.lower() and ("target" in line.lower() or "browser" in line.lower()):
        return "the browser closed"
    return line

"""The `openai` executor: one file rewritten by an OpenAI-compatible chat-completions endpoint.

`POST {base_url}/chat/completions` with the instruction, the file's path and
content; the answer's `choices[0].message.content` (unwrapped if it is one
fenced code block) replaces the file atomically. The API key comes from the
variable `api_key_env` names, at run time, and never reaches the log or an
error. Redirects are refused (urllib would forward the key to wherever they
point). The request runs in a worker thread; cancel stops waiting for it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from hostagent import __version__
from hostagent.files import WriteRefused, write_atomic
from hostagent.mirror.safefile import TEXT_LIMIT, read_small
from hostagent.tasks.executors import Executor, RunResult, seconds
from hostagent.tasks.output import TaskLog

MAX_ANSWER = 8 * 1024 * 1024
SNIPPET = 200
SYSTEM = (
    "You rewrite one file of a software project as the user asks. Answer with the complete new "
    "content of the file and nothing else: no explanation, no summary, no Markdown fence around it."
)
_FENCED = re.compile(r"\A\s*```[^\n`]*\n(.*?)^```[ \t]*\s*\Z", re.DOTALL | re.MULTILINE)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would forward the Authorization header to wherever a redirect points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class EndpointError(Exception):
    pass


def unfence(content: str) -> str:
    """The inside of `content` if all of it is one fenced code block, else `content`."""
    match = _FENCED.match(content)
    if match is None or re.search(r"^```", match.group(1), re.MULTILINE):
        return content
    return match.group(1)


def messages(prompt: str, target: str, content: str) -> list[dict[str, str]]:
    user = f"Instruction:\n{prompt}\n\nFile: {target}\n\nCurrent content of {target}:\n{content}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    """In a worker thread. Raises EndpointError (without the key: the caller scrubs anyway)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked in config)
            raw: bytes = response.read(MAX_ANSWER + 1)  # typeshed types open()'s result as Any
    except urllib.error.HTTPError as exc:
        with exc:
            start = exc.read(SNIPPET).decode("utf-8", errors="replace")
        raise EndpointError(f"the endpoint answered HTTP {exc.code}: {start!r}") from None
    except TimeoutError:
        raise EndpointError(f"timed out after {seconds(timeout)} s") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise EndpointError(f"cannot reach the endpoint: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > MAX_ANSWER:
        raise EndpointError(f"the endpoint's answer is larger than {MAX_ANSWER} bytes")
    return raw


def reply_content(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        start = raw[:SNIPPET].decode("utf-8", errors="replace")
        raise EndpointError(f"the endpoint's answer has no choices[0].message.content: {start!r}") from None
    if not isinstance(content, str):
        raise EndpointError("the endpoint's answer has no text in choices[0].message.content")
    return content


def read_target(root: str, target: str) -> tuple[str, bytes]:
    """The target's text and bytes; raises EndpointError if it is not a text file of at most 512 KiB."""
    data = read_small(os.path.join(root, *target.split("/")), TEXT_LIMIT)  # O_NOFOLLOW, regular only
    if data is None:
        raise EndpointError(f"cannot read {target}: not a regular file of at most {TEXT_LIMIT} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise EndpointError(f"{target} is not a text file (UTF-8 without NUL)")
    return text, data


def write_back(root: str, target: str, data: bytes, expected: bytes) -> None:
    """Replace root/target with `data` unless it changed from `expected`, became a symlink or
    a folder on its path did (hostagent.files). Raises EndpointError."""
    try:
        write_atomic(root, target, data, expect=expected)
    except WriteRefused as exc:
        raise EndpointError(f"refusing to write {target}: {exc}") from None
    except OSError as exc:
        raise EndpointError(f"cannot write {target}: {exc.strerror or exc}") from None


async def run_openai(
    executor: Executor, root: str, prompt: str, target: str, log: TaskLog, cancel: asyncio.Event
) -> RunResult:
    key = os.environ.get(executor.api_key_env, "") if executor.api_key_env else ""

    def scrub(text: str) -> str:
        return text.replace(key, "[api key]") if key else text

    if not target:
        return RunResult("failed", error=f"executor {executor.name!r} needs a target file")
    try:
        return await _run(executor, root, prompt, target, log, cancel, key)
    except EndpointError as exc:
        return RunResult("failed", error=scrub(str(exc)))
    finally:
        await log.flush(final=True)


async def _run(
    executor: Executor, root: str, prompt: str, target: str, log: TaskLog, cancel: asyncio.Event, key: str
) -> RunResult:
    text, original = read_target(root, target)
    url = executor.base_url.rstrip("/") + "/chat/completions"
    body = json.dumps({"model": executor.model, "messages": messages(prompt, target, text)}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"codexhub-hostagent/{__version__}",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    elif executor.api_key_env:
        await log.note(f"{executor.api_key_env} is not set: sending no API key\n")
    await log.note(f"asking model {executor.model} at {url} to rewrite {target} ({len(original)} bytes)\n")
    request: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.to_thread(post_json, url, body, headers, executor.timeout)
    )
    cancelled = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait(
            [request, cancelled], timeout=executor.timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        cancelled.cancel()
    if not request.done():
        # The thread ends at its own socket timeout; nobody waits for it.
        request.add_done_callback(lambda f: f.cancelled() or f.exception())
        if cancel.is_set():
            return RunResult("cancelled")
        return RunResult("failed", error=f"timed out after {seconds(executor.timeout)} s")
    raw = request.result()
    content = unfence(reply_content(raw))
    await log.note(f"received {len(raw)} bytes; the new content is {len(content.encode())} bytes\n")
    if "\0" in content:
        raise EndpointError("the model's answer holds a NUL: not text")
    if cancel.is_set():
        return RunResult("cancelled")
    await asyncio.to_thread(write_back, root, target, content.encode("utf-8"), original)
    await log.note(f"wrote {target}\n")
    return RunResult("succeeded")

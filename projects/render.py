"""Turning a mirrored file or an agent's message into safe HTML: Markdown
through markdown-it-py (raw HTML off) and nh3, code through Pygments. Nothing
from the text can run: the CSP forbids inline script too, but the HTML holds
none to begin with.

Everything here has a budget (SECURITY.md section 5): a size limit, then a CPU
time limit checked inside the parser and the lexer; past either, the text is
shown escaped in a <pre> with a notice saying why. Results are cached by a hash
of the content, the renderer kind and RENDER_VERSION, so each text is rendered
once across pages, fragment fetches and processes. A cache that fails is
skipped: the page renders without it."""

import hashlib
import logging
import mimetypes
import time
from collections.abc import MutableMapping
from dataclasses import dataclass

import nh3
from django.conf import settings
from django.core.cache import caches
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import format as pygments_format
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown")
ALLOWED_SCHEMES = {"http", "https", "mailto"}

# Bump when the renderers' output changes, so cached HTML from before is not served.
RENDER_VERSION = "1"
# Measured in docs/benchmarks.md ("Rendering budget"): an ordinary document or source
# file of this size takes about 50 ms, the worst shapes 0.1-0.7 s without the time limit.
MARKDOWN_MAX_BYTES = 32 * 1024
HIGHLIGHT_MAX_BYTES = 32 * 1024
RENDER_BUDGET_SECONDS = 0.1  # CPU time of the rendering thread, per text
PAGE_BUDGET_SECONDS = 0.5  # CPU time for the texts one page renders afresh
CACHE_SECONDS = 24 * 3600
# Whether a text fits the time budget varies a little with load: retry that verdict sooner.
OVER_BUDGET_CACHE_SECONDS = 600
# An optional cache of its own (settings.CACHES["render"]); else the default one.
CACHE_ALIAS = "render"

MARKDOWN_TOO_LARGE = (
    "Shown as plain text: {what} is {size}, larger than the {limit} the hub renders as Markdown."
)
MARKDOWN_TOO_COMPLEX = (
    "Shown as plain text: {what} is too complex to render as Markdown "
    "(it needed more than {budget} of the hub's time)."
)
MARKDOWN_DEFERRED = (
    "Shown as plain text for now: this page used up its rendering time. Reload to render the rest."
)
CODE_TOO_LARGE = "Shown without colours: {what} is {size}, larger than the {limit} the hub highlights."
CODE_TOO_COMPLEX = "Shown without colours: {what} needed more than {budget} of the hub's time to highlight."

_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
)


class OverBudget(Exception):
    pass


def _clock() -> float:
    # CPU time of this thread, not wall time: other threads holding the GIL don't count.
    return time.thread_time()


_CHECKS_PER_CLOCK = 16  # reading the thread's CPU clock is a system call (about 1 us)


def _check(env: MutableMapping) -> None:
    env["checks"] += 1
    if env["checks"] % _CHECKS_PER_CLOCK == 0 and _clock() > env["deadline"]:
        raise OverBudget


def _inline_budget(state, silent: bool) -> bool:
    _check(state.env)
    return False  # never matches: the other rules go on


def _block_budget(state, start_line: int, end_line: int, silent: bool) -> bool:
    _check(state.env)
    return False


# Called before every inline rule attempt (also inside link-label lookahead) and every
# block rule attempt (also as a paragraph/list terminator check): the parser's loops.
_markdown.inline.ruler.before("text", "budget", _inline_budget)
_markdown.block.ruler.before(
    "table", "budget", _block_budget, {"alt": ["paragraph", "reference", "blockquote", "list"]}
)
_markdown.core.ruler.after("inline", "budget", lambda state: _check(state.env))


@dataclass(frozen=True)
class Rendered:
    html: SafeString
    notice: str = ""  # why the text is shown plain; "" when rendered


def is_markdown(path: str) -> bool:
    return path.lower().endswith(MARKDOWN_SUFFIXES)


def file_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "unknown type"


def _kib(size: int) -> str:
    return f"{-(-size // 1024)} KB"


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)} ms"


def _plain(text: str, notice: str) -> Rendered:
    return Rendered(mark_safe(f'<pre class="plain-text">{escape(text)}</pre>'), notice)  # noqa: S308


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


# Markdown ------------------------------------------------------------------------------


def _markdown_html(text: str) -> str:
    """Sanitized HTML; raises OverBudget past RENDER_BUDGET_SECONDS."""
    html = _markdown.render(text, {"deadline": _clock() + RENDER_BUDGET_SECONDS, "checks": 0})
    return nh3.clean(html, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer")


def _markdown_fresh(text: str, what: str) -> Rendered:
    try:
        return Rendered(mark_safe(_markdown_html(text)))  # noqa: S308 (sanitized by nh3)
    except OverBudget:
        return _plain(text, MARKDOWN_TOO_COMPLEX.format(what=what, budget=_ms(RENDER_BUDGET_SECONDS)))


def markdown_render_many(*, texts: list[str], what: str = "this message") -> list[Rendered]:
    """Each text rendered, from the cache when it can be. Texts not cached are
    rendered while the page's budget lasts, the rest shown plain for now."""
    results: dict[int, Rendered] = {}
    keys: dict[int, str] = {}
    for index, text in enumerate(texts):
        size = _size(text)
        if size > MARKDOWN_MAX_BYTES:
            limit = _kib(MARKDOWN_MAX_BYTES)
            results[index] = _plain(text, MARKDOWN_TOO_LARGE.format(what=what, size=_kib(size), limit=limit))
        else:
            keys[index] = _cache_key("markdown", text)
    cached = _cache_get_many(set(keys.values()))
    fresh: dict[str, Rendered] = {}
    page_deadline = _clock() + PAGE_BUDGET_SECONDS
    for index, key in keys.items():
        if key in cached:
            results[index] = cached[key]
        elif key in fresh:
            results[index] = fresh[key]
        elif _clock() < page_deadline:
            results[index] = fresh[key] = _markdown_fresh(texts[index], what)
        else:
            results[index] = _plain(texts[index], MARKDOWN_DEFERRED)
    _cache_set_many(fresh)
    return [results[index] for index in range(len(texts))]


def markdown_render(*, text: str, what: str = "this file") -> Rendered:
    return markdown_render_many(texts=[text], what=what)[0]


# Code ----------------------------------------------------------------------------------

_TOKENS_PER_CHECK = 64


def _lexer(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


def _code_html(text: str, lexer: Lexer) -> str:
    """Pygments HTML (Pygments escapes the text); raises OverBudget."""
    deadline = _clock() + RENDER_BUDGET_SECONDS
    tokens = []
    for count, token in enumerate(lexer.get_tokens(text)):
        tokens.append(token)
        if count % _TOKENS_PER_CHECK == 0 and _clock() > deadline:
            raise OverBudget
    return pygments_format(tokens, _formatter())


def _formatter() -> HtmlFormatter:
    return HtmlFormatter(cssclass="highlight", wrapcode=True)


def code_render(*, path: str, text: str, what: str = "this file") -> Rendered:
    lexer = _lexer(path)
    if type(lexer) is TextLexer:  # nothing to colour: linear and cheap, at any size
        return Rendered(mark_safe(pygments_format(lexer.get_tokens(text), _formatter())))  # noqa: S308
    size = _size(text)
    if size > HIGHLIGHT_MAX_BYTES:
        limit = _kib(HIGHLIGHT_MAX_BYTES)
        return _plain(text, CODE_TOO_LARGE.format(what=what, size=_kib(size), limit=limit))
    key = _cache_key(f"code:{type(lexer).__name__}", text)
    cached = _cache_get_many({key})
    if key in cached:
        return cached[key]
    try:
        rendered = Rendered(mark_safe(_code_html(text, lexer)))  # noqa: S308 (Pygments escapes)
    except OverBudget:
        rendered = _plain(text, CODE_TOO_COMPLEX.format(what=what, budget=_ms(RENDER_BUDGET_SECONDS)))
    _cache_set_many({key: rendered})
    return rendered


# Cache ---------------------------------------------------------------------------------


def _cache():
    return caches[CACHE_ALIAS if CACHE_ALIAS in settings.CACHES else "default"]


def _cache_key(kind: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"render:{RENDER_VERSION}:{kind}:{digest}"


def _cache_get_many(keys: set[str]) -> dict[str, Rendered]:
    if not keys:
        return {}
    try:
        found = _cache().get_many(list(keys))
    except Exception:  # a cache that is down costs a render, never the page
        logger.warning("render cache unavailable: rendering without it", exc_info=True)
        return {}
    # Stored as plain (html, notice) pairs; the HTML was sanitized before it was stored.
    return {key: Rendered(mark_safe(html), notice) for key, (html, notice) in found.items()}  # noqa: S308


def _cache_set_many(rendered: dict[str, Rendered]) -> None:
    for timeout, over_budget in ((CACHE_SECONDS, False), (OVER_BUDGET_CACHE_SECONDS, True)):
        values = {key: (str(item.html), item.notice) for key, item in rendered.items()}
        values = {key: value for key, value in values.items() if bool(value[1]) is over_budget}
        if not values:
            continue
        try:
            _cache().set_many(values, timeout=timeout)
        except Exception:
            logger.warning("render cache unavailable: not storing rendered HTML", exc_info=True)
            return

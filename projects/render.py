"""Turning a mirrored file or an agent's message into safe HTML: Markdown
through markdown-it-py and nh3, code through Pygments. Nothing from the text
can run: the CSP forbids inline script too, but the HTML holds none to begin
with.

Markdown reads the way a code host shows it: raw HTML passes through nh3 with a
conservative allow-list (no script, style, iframe, form, SVG or event handler;
`align` and image sizes kept), headings get ids (`md-<slug>`, prefixed so a
heading cannot take the id of something on the page, and `#slug` links follow),
and images are never loaded from elsewhere: an external one becomes a link
with its alt text. Relative links and images depend on where the file is, so
they are resolved per page (`Place`), after the cached rendering.

Everything here has a budget (SECURITY.md section 5): a size limit, then a CPU
time limit checked inside the parser and the lexer; past either, the text is
shown escaped in a <pre> with a notice saying why. Results are cached by a hash
of the content, the renderer kind and RENDER_VERSION, so each text is rendered
once across pages, fragment fetches and processes. A cache that fails is
skipped: the page renders without it."""

import hashlib
import html as html_lib
import logging
import mimetypes
import posixpath
import re
import time
import unicodedata
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import nh3
from django.conf import settings
from django.core.cache import caches
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import format as pygments_format
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, find_lexer_class_for_filename, get_lexer_for_filename
from pygments.util import ClassNotFound

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown")
ALLOWED_SCHEMES = {"http", "https", "mailto"}

# Bump when the renderers' output changes, so cached HTML from before is not served.
RENDER_VERSION = "3"
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

_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")

# Raw HTML a README may use, and nothing that runs, loads or restyles the page: no
# script, style, iframe, object, form, input, svg, math, base or meta (dropped, their
# text kept; script and style with their content), no style, class, on* or data-*.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "picture", "pre", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
}  # fmt: skip
_ALIGNED = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr", "table", "img"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: {"align"} for tag in _ALIGNED},
    **{f"h{level}": {"align", "id"} for level in range(1, 7)},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "align"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "details": {"open"},
    "abbr": {"title"},
}
ID_PREFIX = "md-"


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

_SLUG_DROP = re.compile(r"[^\w\- ]")


def slug(text: str) -> str:
    """A heading's anchor as code hosts make it: lower case, punctuation dropped, spaces as -."""
    return _SLUG_DROP.sub("", unicodedata.normalize("NFC", text).strip().lower()).replace(" ", "-")


def _heading_ids(state) -> None:
    """Give each heading an id from its text (`Usage`, `Usage` -> usage, usage-1)."""
    seen: dict[str, int] = state.env.setdefault("slugs", {})
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or index + 1 >= len(tokens):
            continue
        inline = tokens[index + 1]
        children = inline.children or ()
        text = "".join(child.content for child in children if child.type in ("text", "code_inline"))
        base = slug(text) or "section"
        count = seen.get(base, 0)
        seen[base] = count + 1
        token.attrSet("id", base if count == 0 else f"{base}-{count}")


_markdown.core.ruler.after("inline", "heading_ids", _heading_ids)


@dataclass(frozen=True)
class Rendered:
    html: SafeString
    notice: str = ""  # why the text is shown plain; "" when rendered


def is_markdown(path: str) -> bool:
    return path.lower().endswith(MARKDOWN_SUFFIXES)


def file_type(path: str) -> str:
    """What a file is, by its name: the language Pygments knows it as ("Rust", "TSX"),
    else its media type ("image/png"), else "unknown type"."""
    name = path.rsplit("/", 1)[-1]
    lexer = find_lexer_class_for_filename(name)
    if lexer is not None and lexer.name:
        return lexer.name
    guessed, _ = mimetypes.guess_type(name, strict=False)
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


def _fragment_link(url: str) -> str:
    # Heading ids carry ID_PREFIX, so the links to them must too.
    return f"#{ID_PREFIX}{url[1:]}" if url.startswith("#") and len(url) > 1 else url


def _markdown_html(text: str) -> str:
    """Sanitized HTML; raises OverBudget past RENDER_BUDGET_SECONDS."""
    html = _markdown.render(text, {"deadline": _clock() + RENDER_BUDGET_SECONDS, "checks": 0})
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer",
        id_prefix=ID_PREFIX,
        url_relative=_fragment_link,
    )
    return _rewrite(clean, image=_image_offsite)


def _markdown_fresh(text: str, what: str) -> Rendered:
    try:
        return Rendered(mark_safe(_markdown_html(text)))  # noqa: S308 (sanitized by nh3)
    except OverBudget:
        return _plain(text, MARKDOWN_TOO_COMPLEX.format(what=what, budget=_ms(RENDER_BUDGET_SECONDS)))


def markdown_render_many(
    *, texts: list[str], what: str = "this message", place: "Place | None" = None
) -> list[Rendered]:
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
    return [_placed(results[index], place or NOWHERE) for index in range(len(texts))]


def _placed(rendered: Rendered, place: "Place") -> Rendered:
    """Relative links and images resolved for where the text is (cheap when it has none)."""
    html = str(rendered.html)
    if rendered.notice or ("<img" not in html and (place.link is None or "<a " not in html)):
        return rendered
    return Rendered(mark_safe(localize(html, place)), rendered.notice)  # noqa: S308


def markdown_render(*, text: str, what: str = "this file", place: "Place | None" = None) -> Rendered:
    """`place`: where the file is, for its relative links and images (see Place)."""
    return markdown_render_many(texts=[text], what=what, place=place)[0]


# Links and images ----------------------------------------------------------------------

# In nh3's output every attribute value is double-quoted with `"`, `<`, `>` and `&` escaped,
# so these match tags whole.
_TAG = re.compile(r'<(a|img)((?:\s+[a-z-]+="[^"]*")*)\s*>|</a>')
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Image:
    """What becomes of an image: shown from `url`, or its alt text with a `note`."""

    url: str = ""
    note: str = ""


@dataclass(frozen=True)
class Place:
    """Where a Markdown file is, for its relative links and images.

    `base` is its folder ("" at the project's root). `link(path, fragment)` is the
    URL of another file of the project (or None: the link is dropped, its text
    kept; no `link`: relative links are left as they are); `images(paths)` says
    how to show each image of the project (one call per page). Paths come
    resolved against `base` and checked (see `relative_path`)."""

    base: str = ""
    link: Callable[[str, str], str | None] | None = None
    images: Callable[[list[str]], dict[str, Image]] | None = None


# Where an agent's message is: nowhere in particular; its relative images are not shown.
NOWHERE = Place()
IMAGE_NOWHERE = "not shown here"


def relative_path(base: str, url: str) -> tuple[str, str] | None:
    """(path inside the project, fragment) for a relative URL, or None if it is
    not one (it has a scheme, or a host) or leaves the project. A leading / is
    the project's root, as on a code host."""
    if not url or url.startswith(("#", "//")) or _SCHEME.match(url):
        return None
    parts = urlsplit(url)
    path = unquote(parts.path)
    if not path:
        return None
    joined = path.lstrip("/") if path.startswith("/") else posixpath.join(base, path)
    normal = posixpath.normpath(joined)
    if normal in (".", "") or normal.startswith("../") or normal == "..":
        return None
    return normal, parts.fragment


def _attributes(text: str) -> dict[str, str]:
    return {name: html_lib.unescape(value) for name, value in _ATTRIBUTE.findall(text)}


def _tag(name: str, attributes: dict[str, str]) -> str:
    quoted = "".join(f' {key}="{escape(value)}"' for key, value in attributes.items())
    return f"<{name}{quoted}>"


def _image_text(attributes: dict[str, str], note: str, href: str, in_link: bool) -> str:
    """An image not shown: its alt text (or "image"), a link to it when it has one, and why."""
    alt = attributes.get("alt", "").strip() or "image"
    label = f'<span class="md-image-alt">{escape(alt)}</span>'
    if note:
        label += f' <span class="md-image-note">({escape(note)})</span>'
    if href and not in_link:
        return f'<a class="md-image" href="{escape(href)}" rel="noopener noreferrer">{label}</a>'
    return f'<span class="md-image">{label}</span>'


def _rewrite(
    html: str,
    *,
    link: Callable[[dict[str, str]], dict[str, str] | None] | None = None,
    image: Callable[[dict[str, str], bool], str | None],
) -> str:
    """`html` (nh3's output) with each <a> and <img> tag given to a callback:
    `link(attributes)` returns new attributes (or None: left as it was);
    `image(attributes, in_link)` returns the HTML in its place (or None: left)."""
    out: list[str] = []
    start = depth = 0
    for match in _TAG.finditer(html):
        out.append(html[start : match.start()])
        start = match.end()
        name = match.group(1)
        if name is None:  # </a>
            depth = max(0, depth - 1)
            out.append(match.group())
        elif name == "a":
            depth += 1
            changed = link(_attributes(match.group(2))) if link else None
            out.append(match.group() if changed is None else _tag("a", changed))
        else:
            replaced = image(_attributes(match.group(2)), depth > 0)
            out.append(match.group() if replaced is None else replaced)
    out.append(html[start:])
    return "".join(out)


def _image_offsite(attributes: dict[str, str], in_link: bool) -> str | None:
    """Images from elsewhere are not loaded (they would track the reader, and the
    CSP refuses them): their alt text, linked to them. A relative one is left for
    localize(), which knows where the file is."""
    src = attributes.get("src", "")
    if src and not _SCHEME.match(src) and not src.startswith("//"):
        return None
    if not src:
        return _image_text(attributes, "", "", in_link)
    return _image_text(attributes, IMAGE_EXTERNAL, src, in_link)


IMAGE_EXTERNAL = "image from another site, not loaded"
IMAGE_OUTSIDE = "not in this project"
_IMAGE_KEPT = ("alt", "title", "width", "height", "align")


def localize(html: str, place: Place) -> str:
    """Relative links of rendered Markdown as the hub's pages of those files,
    relative images as the hub serves them (or their alt text and why not)."""

    paths = image_paths(html, place.base)
    shown = place.images(paths) if place.images and paths else {}

    def on_link(attributes: dict[str, str]) -> dict[str, str] | None:
        if place.link is None:
            return None
        href = attributes.get("href", "")
        target = relative_path(place.base, href)
        if target is None:
            return None
        url = place.link(*target)
        rest = {key: value for key, value in attributes.items() if key != "href"}
        return {"href": url, **rest} if url else rest

    def on_image(attributes: dict[str, str], in_link: bool) -> str | None:
        target = relative_path(place.base, attributes.get("src", ""))
        if target is None:
            return _image_text(attributes, IMAGE_OUTSIDE, "", in_link)
        image = shown.get(target[0], Image(note=IMAGE_NOWHERE))
        if not image.url:
            return _image_text(attributes, image.note, "", in_link)
        kept = {key: attributes[key] for key in _IMAGE_KEPT if key in attributes}
        return _tag("img", {"src": image.url, **kept, "loading": "lazy", "data-raw-image": ""})

    return _rewrite(html, link=on_link, image=on_image)


def image_paths(html: str, base: str) -> list[str]:
    """The project paths of the relative images in rendered Markdown, in order."""
    paths = []
    for match in _TAG.finditer(html):
        if match.group(1) == "img":
            target = relative_path(base, _attributes(match.group(2)).get("src", ""))
            if target is not None:
                paths.append(target[0])
    return paths


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
    # Each line in <span id="L-n">, numbered by a CSS counter that copying leaves out.
    return HtmlFormatter(cssclass="highlight", wrapcode=True, linespans="L")


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

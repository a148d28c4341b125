"""Turning a mirrored file into safe HTML: Markdown through markdown-it-py
(raw HTML off) and nh3, code through Pygments. Nothing from the file can
run: the CSP forbids inline script too, but the HTML holds none to begin with."""

import mimetypes

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown")
MAX_HIGHLIGHT = 256 * 1024  # past this, plain text: highlighting is slow and the phone gains little
ALLOWED_SCHEMES = {"http", "https", "mailto"}

_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
)


def is_markdown(path: str) -> bool:
    return path.lower().endswith(MARKDOWN_SUFFIXES)


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text)
    clean = nh3.clean(html, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer")
    return mark_safe(clean)  # noqa: S308 (sanitized by nh3 just above)


def render_code(path: str, text: str) -> SafeString:
    try:
        lexer = get_lexer_for_filename(path, stripnl=False) if len(text) <= MAX_HIGHLIGHT else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(cssclass="highlight", wrapcode=True)
    return mark_safe(highlight(text, lexer, formatter))  # noqa: S308 (Pygments escapes the text)


def file_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "unknown type"

"""`{{ path|visible }}`: a file name from a host, escaped, with each invisible
or bidi control character shown as a marked ⟨U+202E⟩ ("invoice\u202egnp.exe"
would otherwise read as "invoiceexe.png")."""

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from projects.paths import invisible_marker, invisible_spans, path_visible

register = template.Library()
MARKER_HTML = '<span class="invisible-char" title="A hidden character in this name">{}</span>'


@register.filter
def visible(value) -> SafeString:
    text = "" if value is None else str(value)
    if text.isascii():  # the common case: nothing to mark
        return escape(text)
    parts = [
        format_html(MARKER_HTML, invisible_marker(piece)) if hidden else escape(piece)
        for piece, hidden in invisible_spans(text)
    ]
    return mark_safe("".join(parts))  # noqa: S308 (each part escaped above)


@register.filter
def visible_text(value) -> str:
    """The same in plain text, for places that show no markup (<title>, attributes)."""
    return path_visible("" if value is None else str(value))

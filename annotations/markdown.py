"""Study texts (instructions, consent) written by researchers in Markdown and shown to
raters. Rendered by markdown-it-py with raw HTML off, so whatever HTML a text holds is
shown as text; links may only go to http(s) and mailto addresses, and images are not
rendered at all (the page's Content-Security-Policy would refuse most of them anyway,
and a rater's browser should not fetch from addresses a text names)."""

from __future__ import annotations

from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

SAFE_SCHEMES = ("http:", "https:", "mailto:")


def _safe_link(url: str) -> bool:
    candidate = url.strip().lower()
    # Relative links (no scheme) stay on the portal; anything with a scheme must be a safe one.
    if ":" not in candidate.split("/", 1)[0]:
        return True
    return candidate.startswith(SAFE_SCHEMES)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.disable("image")
    md.validateLink = _safe_link
    return md


_MD = _parser()


@lru_cache(maxsize=256)  # the same study text is shown on every rating page
def render_markdown(text: str) -> SafeString:
    """The text as HTML that is safe to insert into a page."""
    return mark_safe(_MD.render(text or ""))  # noqa: S308 - raw HTML is disabled and links are checked

"""Make text that came from outside (endpoints, config, imported files) inert in markdown, SVG and file names.

Provider names, model names, error messages and score sources reach a report that GitHub will render. None of
them may become a link, an image, HTML, a table cell break or emphasis that swallows the text around it, and
what a reader sees must be the original text.
"""

from __future__ import annotations

import re

# Inline markdown syntax (CommonMark + GitHub: tables, strikethrough, math) backslash-escaped wherever it occurs.
_BACKSLASH = frozenset("\\`*_[]()|~$!")
# Characters replaced by a numeric character reference: HTML starts and entities, and the two characters GitHub's
# autolinker keys on (":" in "https://", "@" in e-mail addresses), which a backslash does not defuse everywhere.
_REFERENCE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", ":": "&#58;", "@": "&#64;"}
_WWW = re.compile(r"(?i)\b(www)\.")
_BLOCK_START = re.compile(r"^([#+\-=]|\d+(?=[.)]))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")


def escape_md(text: object) -> str:
    """``text`` as inline markdown that renders to exactly that text (whitespace runs become one space).

    Safe in a paragraph, a heading, a list item, a table cell and link text: no link, image, autolink, raw HTML,
    entity, emphasis, code span, math or cell break can result. Line breaks and control characters become spaces.
    """
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    out = []
    for char in flat:
        if char in _BACKSLASH:
            out.append("\\" + char)
        else:
            out.append(_REFERENCE.get(char, char))
    escaped = "".join(out)
    escaped = _WWW.sub(r"\1&#46;", escaped)
    # A value at the start of a line could open a heading, list, quote or setext underline.
    return _BLOCK_START.sub(_defuse_block_start, escaped, count=1)


def _defuse_block_start(match: re.Match[str]) -> str:
    marker = match.group(1)
    return marker + "\\" if marker[0].isdigit() else "\\" + marker


def escape_xml(text: object) -> str:
    """``text`` safe as SVG/XML character data or a double-quoted attribute value."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return (
        flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")
    )


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """A file-name-safe slug: lower-case ASCII letters and digits joined by single dashes ("gpt-4-1-mini").

    Never empty, never a path: anything else becomes a dash, and an all-punctuation name becomes "model".
    """
    return _SLUG_DROP.sub("-", text.lower()).strip("-")[:80].strip("-") or "model"

"""Text from endpoints, config and imported files stays inert in markdown, SVG and file names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt  # a dependency of rich, which probe depends on

from probe.report.escape import escape_md, escape_xml, slugify

HOSTILE = [
    "[click me](https://evil.example/steal)",
    "![pixel](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "<!-- hidden --> visible",
    "https://evil.example/phish and www.evil.example",
    "mail admin@evil.example now",
    "[ref]: https://evil.example",
    "[text][ref]",
    "**bold** _em_ ~~strike~~ `code` $x^2$",
    "a | b | c",
    "# heading",
    "- list item",
    "+ plus item",
    "1. ordered",
    "2) ordered",
    "> quote",
    "===",
    "&amp; &lt;b&gt; &#x41;",
    "back\\slash \\[not a link\\](x)",
    "line one\nline two\r\n<b>three</b>\u2028four",
    "[^1] footnote",
    "<https://evil.example>",
    "\\",
    "trailing backslash\\",
    "sk-ant-xxxxxxxx <b>",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _render(markdown: str) -> _Collector:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    collector = _Collector()
    collector.feed(html)
    return collector


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_renders_as_exactly_that_text(hostile: str) -> None:
    """In a paragraph, a hostile string renders to its own text with no markup at all."""
    rendered = _render(escape_md(hostile))
    assert rendered.tags == ["p"]
    assert "".join(rendered.text).strip() == " ".join(hostile.replace("\u2028", " ").split())


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_stays_inside_its_table_cell(hostile: str) -> None:
    """In a table cell, a hostile string cannot add cells, links, images or HTML."""
    rendered = _render(f"| a | b |\n|---|---|\n| {escape_md(hostile)} | end |\n")
    assert rendered.tags.count("td") == 2
    assert not {"a", "img", "script", "strong", "em", "code", "s"} & set(rendered.tags)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_in_link_text_keeps_one_link(hostile: str) -> None:
    """As the text of a link the report makes, a hostile string cannot close it or add another."""
    rendered = _render(f"[{escape_md(hostile)}](report.md)")
    assert rendered.tags == ["p", "a"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_gives_autolinkers_nothing_to_find(hostile: str) -> None:
    """GitHub links bare URLs, www. hosts and e-mail addresses; escaped text keeps none of them literally."""
    escaped = escape_md(hostile)
    assert "://" not in escaped
    assert "www." not in escaped.lower()
    assert "@" not in escaped


def test_ordinary_names_are_left_readable() -> None:
    """Model and provider names read the same in the markdown source."""
    assert escape_md("gpt-4.1-mini") == "gpt-4.1-mini"
    assert escape_md("GPT-4.1 nano") == "GPT-4.1 nano"
    assert escape_md("o200k_base") == "o200k\\_base"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escape_xml_is_text_in_svg(hostile: str) -> None:
    """In SVG text and attributes a hostile string is character data, parsed back unchanged."""
    element = ET.fromstring(f'<text title="{escape_xml(hostile)}">{escape_xml(hostile)}</text>')
    expected = " ".join(hostile.replace("\u2028", " ").split())
    assert element.text == expected
    assert element.get("title") == expected
    assert len(element) == 0


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("gpt-4.1-mini", "gpt-4-1-mini"),
        ("GPT-4.1 Nano", "gpt-4-1-nano"),
        ("../../etc/passwd", "etc-passwd"),
        ("openai/gpt-4.1", "openai-gpt-4-1"),
        ("<script>", "script"),
        ("???", "model"),
        ("", "model"),
        ("模型", "model"),
    ],
)
def test_slugify_makes_safe_file_names(name: str, slug: str) -> None:
    """Slugs hold only [a-z0-9-]: no path separators, dots or markup, and never empty."""
    assert slugify(name) == slug

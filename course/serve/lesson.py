"""A lesson's Markdown as HTML: markdown-it-py (CommonMark + tables), Pygments for code, every
heading an anchor, every code block with a copy button (shown by the page's script)."""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound


def slug(text: str, taken: set[str]) -> str:
    """A heading's anchor: lower case, words joined by `-`, unique on the page."""
    base = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    base = re.sub(r"[\s_-]+", "-", base) or "section"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def code_html(code: str, language: str = "python") -> str:
    """Highlighted code in a `<pre>` with Pygments' short class names (styled by `pygments_css`)."""
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, HtmlFormatter(nowrap=False, cssclass="highlight"))


@lru_cache(maxsize=1)
def pygments_css() -> str:
    return HtmlFormatter(style="friendly").get_style_defs(".highlight")


def _fence(_renderer: object, tokens: list[Token], idx: int, _options: object, _env: object) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return f'<div class="code">{code_html(token.content, language)}</div>\n'


def render_markdown(text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """The HTML of `text` and its headings as (level, anchor, text), in order."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _fence)
    tokens = md.parse(text)
    taken: set[str] = set()
    headings: list[tuple[int, str, str]] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            title = tokens[i + 1].content
            anchor = slug(title, taken)
            token.attrSet("id", anchor)
            headings.append((int(token.tag[1]), anchor, title))
    body = md.renderer.render(tokens, md.options, {})
    for _level, anchor, _title in headings:  # a link to itself after each heading's text
        body = body.replace(f'id="{anchor}">', f'id="{anchor}"><a class="anchor" href="#{anchor}" '
                                               f'aria-label="Link to this section">#</a> ', 1)
    return body, headings

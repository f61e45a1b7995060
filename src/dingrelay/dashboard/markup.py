"""A DingTalk message as the dashboard shows it: sanitised HTML close to what the DingTalk client renders.

Markdown (markdown, actionCard) is rendered by markdown-it-py with inline HTML on (DingTalk's cards use
``<font color=…>``), then cleaned by nh3 (ammonia), which keeps only the tags DingTalk shows, ``color`` on
``<font>``, and links with http(s), dingtalk or mailto targets. Images become links, so a page never loads anything
from elsewhere (the dashboard's Content-Security-Policy would refuse it anyway). Text is escaped, never parsed.
Secret query parameters are masked before anything is rendered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from .masking import mask_params

TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "strong", "b", "em", "i", "del", "a", "ul", "ol",
        "li", "blockquote", "code", "pre", "font", "span"}
ATTRIBUTES = {"a": {"href", "title"}, "font": {"color"}, "span": {"class"}}
SCHEMES = {"http", "https", "dingtalk", "mailto"}


def _image_as_link(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
    token = tokens[idx]
    src = html.escape(str(token.attrGet("src") or ""), quote=True)
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
    return f'<a href="{src}"><span class="image">[图片]</span> {alt}</a>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "breaks": True, "linkify": False})
    md.add_render_rule("image", _image_as_link)
    return md


_MD = _parser()


def markdown_html(text: str) -> str:
    """DingTalk markdown as safe HTML."""
    return nh3.clean(_MD.render(mask_params(text)), tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES,
                     link_rel="noopener noreferrer nofollow")


def text_html(text: str) -> str:
    return "<p>" + html.escape(mask_params(text)).replace("\n", "<br>") + "</p>"


def _link(url: Any, label: str) -> str:
    target = mask_params(str(url or ""))
    cleaned = nh3.clean(f'<a href="{html.escape(target, quote=True)}">{html.escape(label)}</a>', tags={"a"},
                        attributes={"a": {"href"}}, url_schemes=SCHEMES, link_rel="noopener noreferrer nofollow")
    return str(cleaned)


def message_html(payload: Mapping[str, Any]) -> str:
    """The message of a DingTalk request body (``{"msgtype": …, <msgtype>: {…}}``) as safe HTML."""
    msgtype = payload.get("msgtype")
    body = payload.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(body, Mapping):
        return '<p class="muted">（无法预览：不是钉钉消息）</p>'
    if msgtype == "text":
        return text_html(str(body.get("content", "")))
    if msgtype == "markdown":
        return markdown_html(str(body.get("text", "")))
    if msgtype == "link":
        return (f"<p><strong>{_link(body.get('messageUrl'), str(body.get('title', '')))}</strong></p>"
                + text_html(str(body.get("text", ""))))
    if msgtype == "actionCard":
        btns = body.get("btns")
        buttons = btns if isinstance(btns, list) else [
            {"title": body.get("singleTitle", ""), "actionURL": body.get("singleURL", "")}]
        links = "".join(f"<li>{_link(b.get('actionURL'), str(b.get('title', '')))}</li>"
                        for b in buttons if isinstance(b, Mapping))
        return markdown_html(str(body.get("text", ""))) + f'<ul class="buttons">{links}</ul>'
    if msgtype == "feedCard":
        given = body.get("links")
        items = given if isinstance(given, list) else []
        return "<ul>" + "".join(f"<li>{_link(i.get('messageURL'), str(i.get('title', '')))}</li>"
                                for i in items if isinstance(i, Mapping)) + "</ul>"
    return f'<p class="muted">（{html.escape(str(msgtype))} 消息无法预览）</p>'


_TAG = re.compile(r"<[^>]+>")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"[#*>`_~|]+")


def excerpt(payload: Mapping[str, Any], *, skip: str = "", limit: int = 90) -> str:
    """The message's text as one plain line (no markup, links as their text), for lists; ``skip``: a line to
    leave out (its title)."""
    msgtype = payload.get("msgtype")
    body = payload.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(body, Mapping):
        return ""
    text = str(body.get("content") or body.get("text") or body.get("title") or "")
    lines = [" ".join(_MD_MARKS.sub("", _MD_LINK.sub(r"\1", _TAG.sub("", line))).split()) for line in
             text.splitlines()]
    kept = [line for line in lines if line and line != skip.strip()]
    out = " · ".join(kept)
    return mask_params(out if len(out) <= limit else out[: limit - 1] + "…")

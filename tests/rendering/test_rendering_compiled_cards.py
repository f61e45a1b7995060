"""The built-in 巡检 cards made without Jinja2 (``rendering/cards.py``) are the messages their templates make:
same JSON for any text the tutorial's endpoint can send; the template itself wherever the data or the template
folder asks for more."""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dingrelay.dingtalk import Markdown
from dingrelay.rendering import Renderer, RenderError
from dingrelay.rendering.cards import CARDS

NOW = 1700000000.0
compiled = Renderer(clock=lambda: NOW)
jinja = Renderer(clock=lambda: NOW, compiled_cards=False)

#: Text with what Jinja2, markdown and JSON treat specially, blank and padded values, and all of Unicode.
_text = st.one_of(st.text(), st.sampled_from(["", " ", "\n", "{{ x }}", "{% if %}", "</font>", "**x**", "\\u0000",
                                              "巡检", "  带空格  ", "a\r\nb", '"quoted"']))
_optional = st.one_of(st.none(), _text)


LEVELS = sorted(file.removesuffix(".j2") for file in CARDS)


@settings(max_examples=300, deadline=None)
@given(level=st.sampled_from(LEVELS), title=_text, content=_text, url=_optional, author=_optional,
       extra=st.dictionaries(st.sampled_from(["level", "source", "unused"]), _text, max_size=3))
def test_the_compiled_card_is_the_templates_message(level: str, title: str, content: str, url: str | None,
                                                    author: str | None, extra: dict[str, str]) -> None:
    data: dict[str, Any] = {**extra, "title": title, "content": content}
    if url is not None:
        data["url"] = url
    if author is not None:
        data["author"] = author

    made, reference = compiled.render(level, data), jinja.render(level, data)

    assert made.to_json() == reference.to_json()
    assert made == reference
    assert made.summary == reference.summary


@pytest.mark.parametrize("level", ["info", "error"])
def test_the_tutorial_body_takes_the_compiled_card(level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint's data makes its card without the template: a broken template module would show."""
    monkeypatch.setattr(Renderer, "_make", lambda *a: pytest.fail("rendered through Jinja2"))

    message = compiled.render(level, {"title": "磁盘", "content": "/data 95%", "author": "", "url": "",
                                      "level": level, "source": "cron"})

    assert isinstance(message, Markdown) and "**巡检内容**：/data 95%" in message.text


@pytest.mark.parametrize("data", [
    pytest.param({"title": "t", "content": "c", "at_mobiles": ["13800000000"]}, id="at_mobiles"),
    pytest.param({"title": "t", "content": "c", "at_all": True}, id="at_all"),
    pytest.param({"title": "t", "content": "c", "at_user_ids": "u1"}, id="at_user_ids"),
    pytest.param({"title": "t", "content": "c", "now": "2020-01-01"}, id="caller-now"),
    pytest.param({"title": 42, "content": 3.5}, id="numbers"),
    pytest.param({"title": "t", "content": ["a", "b"]}, id="list"),
    pytest.param({"title": "t", "content": "c", "url": 0, "author": []}, id="falsy-non-text"),
    pytest.param({"title": "t", "content": "c", "author": {"name": "张三"}}, id="mapping"),
])
@pytest.mark.parametrize("level", ["info", "error"])
def test_data_the_card_does_not_take_renders_as_the_template_does(level: str, data: dict[str, Any]) -> None:
    assert compiled.render(level, data) == jinja.render(level, data)


@pytest.mark.parametrize("data", [
    pytest.param({"content": "c"}, id="no-title"),
    pytest.param({"title": "t"}, id="no-content"),
    pytest.param({"title": "t", "content": "长" * 7000}, id="too-large"),
])
def test_data_the_template_refuses_is_refused_alike(data: dict[str, Any]) -> None:
    with pytest.raises(RenderError) as made:
        compiled.render("info", data)
    with pytest.raises(RenderError) as reference:
        jinja.render("info", data)

    assert (made.value.code, made.value.message, made.value.field) == (
        reference.value.code, reference.value.message, reference.value.field)


def test_a_users_info_template_wins_over_the_compiled_card(user_dir: Path) -> None:
    (user_dir / "info.j2").write_text('{% set title = "自定义" %}我们的卡片：{{ content }}', encoding="utf-8")

    message = Renderer(user_dir, clock=lambda: NOW).render("info", {"title": "t", "content": "c"})

    assert isinstance(message, Markdown)
    assert (message.title, message.text) == ("自定义", "我们的卡片：c")


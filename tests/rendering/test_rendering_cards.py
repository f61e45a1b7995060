"""The built-in 巡检 cards (info/error) stay compatible with the original Flask tutorial's."""

import pytest

from dingrelay.dingtalk import Markdown, Text
from dingrelay.rendering import Renderer, RenderError

CHECK = {"source": "cron", "title": "磁盘检查", "content": "/data 使用率 42%", "author": "张三",
         "url": "https://ops.example.com/checks/42"}

CARDS = [
    pytest.param("info", "#008000", "[巡检] 每天巡检", id="info-green"),
    pytest.param("error", "#FF0000", "[巡检] 每天巡检异常", id="error-red"),
]


@pytest.mark.parametrize(("level", "color", "heading"), CARDS)
def test_card_is_markdown_with_its_colour_and_heading(renderer: Renderer, level: str, color: str,
                                                      heading: str) -> None:
    message = renderer.render(level, CHECK)

    assert isinstance(message, Markdown)
    assert message.title == heading
    assert message.text.startswith(f"### <font color={color}>{heading}</font>\n\n")


@pytest.mark.parametrize(("level", "color", "heading"), CARDS)
def test_card_chat_list_title_contains_the_robot_keyword(renderer: Renderer, level: str, color: str,
                                                        heading: str) -> None:
    assert "巡检" in renderer.render(level, CHECK).summary


def test_info_card_never_looks_like_an_error(renderer: Renderer) -> None:
    message = renderer.render("info", CHECK)

    assert "#FF0000" not in message.text
    assert "异常" not in message.text + message.title


@pytest.mark.parametrize("level", ["info", "error"])
def test_card_lists_every_field_on_its_own_line(renderer: Renderer, level: str) -> None:
    text = renderer.render(level, CHECK).to_payload()["markdown"]["text"]

    assert text.split("\n\n")[1:] == [
        "**详情**：[点击查看](https://ops.example.com/checks/42)",
        "**巡检标题**：磁盘检查",
        "**巡检内容**：/data 使用率 42%",
        "**相关人员**：张三",
        "**播报时间**：2023-11-15 06:13:20"  # the fixed clock, 1700000000, in Shanghai,
    ]


@pytest.mark.parametrize("missing", [{"url": ""}, {"url": None}, {}], ids=["empty", "null", "absent"])
def test_card_without_url_has_no_detail_line(renderer: Renderer, missing: dict) -> None:
    data = {k: v for k, v in CHECK.items() if k != "url"} | missing

    text = renderer.render("error", data).to_payload()["markdown"]["text"]

    assert "详情" not in text
    assert "**巡检标题**：磁盘检查" in text


@pytest.mark.parametrize("author", [{"author": ""}, {}], ids=["empty", "absent"])
def test_card_author_defaults_to_the_inspection_robot(renderer: Renderer, author: dict) -> None:
    data = {"title": "t", "content": "c"} | author

    assert "**相关人员**：巡检机器人" in renderer.render("info", data).to_payload()["markdown"]["text"]


def test_card_time_is_the_injected_clock_in_shanghai() -> None:
    renderer = Renderer(clock=lambda: 0.0)

    assert "**播报时间**：1970-01-01 08:00:00" in renderer.render("info", CHECK).to_payload()["markdown"]["text"]


@pytest.mark.parametrize("field", ["title", "content"])
def test_card_without_a_required_field_names_it(renderer: Renderer, field: str) -> None:
    data = {k: v for k, v in CHECK.items() if k != field}

    with pytest.raises(RenderError) as info:
        renderer.render("error", data)

    assert (info.value.code, info.value.field) == ("undefined", field)
    assert repr(field) in info.value.message


def test_card_mentions_people_in_the_text_and_the_at_object(renderer: Renderer) -> None:
    payload = renderer.render("error", CHECK | {"at_mobiles": ["13800000000"]}).to_payload()

    assert payload["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert payload["markdown"]["text"].endswith("@13800000000")


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("text", {"content": "部署完成"}, {"msgtype": "text", "text": {"content": "部署完成"}}),
    ("markdown", {"title": "周报", "content": "## 本周"},
     {"msgtype": "markdown", "markdown": {"title": "周报", "text": "## 本周"}}),
    ("markdown", {"title": "周报", "text": "## 本周"},
     {"msgtype": "markdown", "markdown": {"title": "周报", "text": "## 本周"}}),
    ("text", {"content": "上线", "at_all": True},
     {"msgtype": "text", "text": {"content": "上线"}, "at": {"isAtAll": True}}),
])
def test_plain_builtins_pass_the_content_through(renderer: Renderer, name: str, data: dict,
                                                 expected: dict) -> None:
    assert renderer.render(name, data).to_payload() == expected


def test_text_builtin_makes_a_text_message(renderer: Renderer) -> None:
    assert isinstance(renderer.render("text", {"content": "x"}), Text)

"""Templates declare their message with `set`; errors say what is wrong and where."""

from pathlib import Path

import pytest

from dingrelay.dingtalk import ActionCard, Link, Markdown, MultiActionCard, Text
from dingrelay.rendering import Renderer, RenderError

# ---- declaring the message -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("你好 {{ who }}", {"msgtype": "text", "text": {"content": "你好 运维"}}),
    ('{% set title = "周报" %}\n## {{ who }}\n',
     {"msgtype": "markdown", "markdown": {"title": "周报", "text": "## 运维"}}),
    ('{% set msgtype = "text" %}{% set title = "ignored" %}{{ who }}',
     {"msgtype": "text", "text": {"content": "运维"}}),
    ("{% set title %}[巡检] {{ who }}{% endset %}**ok**",
     {"msgtype": "markdown", "markdown": {"title": "[巡检] 运维", "text": "**ok**"}}),
], ids=["no-title-is-text", "title-makes-markdown", "explicit-msgtype-wins", "block-set-title"])
def test_template_declares_its_message_with_set(renderer: Renderer, source: str, expected: dict) -> None:
    assert renderer.render_string(source, {"who": "运维"}).to_payload() == expected


def test_data_title_alone_does_not_make_markdown(renderer: Renderer) -> None:
    message = renderer.render_string("{{ title }}: {{ content }}", {"title": "磁盘", "content": "ok"})

    assert isinstance(message, Text)
    assert message.content == "磁盘: ok"


def test_body_is_stripped_of_surrounding_blank_lines(renderer: Renderer) -> None:
    source = "{% set title = 't' %}\n\n   \n# Heading\n\nline  \n\n\n"

    assert renderer.render_string(source, {}).to_payload()["markdown"]["text"] == "# Heading\n\nline"


@pytest.mark.parametrize(("decl", "at"), [
    ('{% set at_mobiles = ["13800000000"] %}', {"atMobiles": ["13800000000"], "isAtAll": False}),
    ('{% set at_user_ids = ["manager01"] %}', {"atUserIds": ["manager01"], "isAtAll": False}),
    ("{% set at_mobiles = phone %}", {"atMobiles": ["13900000000"], "isAtAll": False}),
    ("{% set at_all = true %}", {"isAtAll": True}),
])
def test_at_declarations_become_the_at_object(renderer: Renderer, decl: str, at: dict) -> None:
    payload = renderer.render_string(decl + "值班提醒", {"phone": "13900000000"}).to_payload()

    assert payload["at"] == at
    assert payload["text"]["content"].startswith("值班提醒")


def test_empty_at_lists_send_no_at_object(renderer: Renderer) -> None:
    payload = renderer.render_string("{% set at_mobiles = [] %}{% set at_all = false %}hi", {}).to_payload()

    assert "at" not in payload


def test_action_card_with_one_button(renderer: Renderer) -> None:
    source = ('{% set msgtype = "actionCard" %}{% set title = "发布" %}'
              '{% set single_title = "查看" %}{% set single_url = url %}### v{{ version }} 已发布')

    message = renderer.render_string(source, {"url": "https://ci.example.com/1", "version": "1.2"})

    assert isinstance(message, ActionCard)
    assert message.to_payload()["actionCard"] == {
        "title": "发布", "text": "### v1.2 已发布", "singleTitle": "查看", "singleURL": "https://ci.example.com/1"}


def test_action_card_with_several_buttons(renderer: Renderer) -> None:
    source = ('{% set msgtype = "actionCard" %}{% set title = "审批" %}{% set btn_orientation = 1 %}'
              '{% set buttons = [{"title": "同意", "url": "https://a"}, {"title": "拒绝", "url": "https://r"}] %}'
              "请审批")

    message = renderer.render_string(source, {})

    assert isinstance(message, MultiActionCard)
    assert message.to_payload()["actionCard"]["btns"] == [
        {"title": "同意", "actionURL": "https://a"}, {"title": "拒绝", "actionURL": "https://r"}]
    assert message.to_payload()["actionCard"]["btnOrientation"] == "1"


def test_link_message(renderer: Renderer) -> None:
    source = ('{% set msgtype = "link" %}{% set title = "周报" %}{% set message_url = "https://w" %}'
              '{% set pic_url = "https://p.png" %}点击阅读')

    message = renderer.render_string(source, {})

    assert isinstance(message, Link)
    assert message.to_payload()["link"] == {
        "title": "周报", "text": "点击阅读", "messageUrl": "https://w", "picUrl": "https://p.png"}


def test_now_is_the_injected_clock_in_shanghai(renderer: Renderer) -> None:
    source = "{{ now | cst }} {{ now.year }} {{ now.strftime('%H:%M %z') }}"

    assert renderer.render_string(source, {}).to_payload()["text"]["content"] == "2023-11-15 06:13:20 2023 06:13 +0800"


# ---- invalid messages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "field", "words"), [
    ('{% set msgtype = "markdown" %}body', "title", "set title"),
    ('{% set msgtype = "actionCard" %}{% set title = "t" %}body', "single_title", "set single_title"),
    ('{% set msgtype = "link" %}{% set title = "t" %}body', "message_url", "set message_url"),
    ('{% set msgtype = "feedCard" %}x', "msgtype", "text, markdown, actionCard or link"),
    ('{% set msgtype = "actionCard" %}{% set title = "t" %}{% set buttons = ["x"] %}b', "buttons", '"url"'),
    ("{% if false %}never{% endif %}", "text.content", "at least 1 character"),
    ('{% set title = "t" %}   ', "markdown.text", "at least 1 character"),
    ("{{ 'x' * 20001 }}", "text", "20000 bytes"),
    ('{% set msgtype = "link" %}{% set title = "t" %}{% set message_url = "u" %}'
     '{% set at_all = true %}b', "at", "only for text and markdown"),
], ids=["markdown-no-title", "card-no-button", "link-no-url", "feedcard", "bad-buttons", "empty-text",
        "empty-markdown", "too-large", "at-on-link"])
def test_invalid_message_says_which_field_and_why(renderer: Renderer, source: str, field: str, words: str) -> None:
    with pytest.raises(RenderError) as info:
        renderer.render_string(source, {})

    assert (info.value.code, info.value.field) == ("invalid_message", field)
    assert words in info.value.message
    assert str(info.value) == info.value.message


# ---- undefined variables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "variable"), [
    ("{{ hostname }}", "hostname"),
    ("{{ hostname | upper }}", "hostname"),
    ("{% if severity == 'critical' %}!{% endif %}ok", "severity"),
    ("{% for a in alerts %}{{ a }}{% endfor %}ok", "alerts"),
    ("{{ labels.instance }}", "instance"),
    ("{{ startsAt | cst }}", "startsAt"),
    ("{{ secs | duration }}", "secs"),
    ("{% set title = subject %}body", "subject"),
])
def test_undefined_variable_is_an_error_naming_it(renderer: Renderer, source: str, variable: str) -> None:
    with pytest.raises(RenderError) as info:
        renderer.render_string(source, {"labels": {}})

    assert (info.value.code, info.value.field) == ("undefined", variable)
    assert repr(variable) in info.value.message


def test_default_filter_makes_a_variable_optional(renderer: Renderer) -> None:
    message = renderer.render_string("{{ host | default('未知主机') }}", {})

    assert message.to_payload()["text"]["content"] == "未知主机"


# ---- the sandbox -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ now.__class__ }}",
    "{{ data.clear() }}",
    "{{ items.append(4) }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 2 ** 100000000 }}",
])
def test_sandbox_refuses_unsafe_templates(renderer: Renderer, source: str) -> None:
    data = {"data": {"keep": "me"}, "items": [1, 2, 3]}

    with pytest.raises(RenderError) as info:
        renderer.render_string(source, data)

    assert info.value.code == "sandbox"
    assert data == {"data": {"keep": "me"}, "items": [1, 2, 3]}


# ---- syntax and runtime errors ---------------------------------------------------------------------------------


def test_syntax_error_names_template_and_line(renderer: Renderer) -> None:
    with pytest.raises(RenderError) as info:
        renderer.render_string("line one\n{% if x %}\nno endif", {}, name="disk")

    assert info.value.code == "syntax"
    assert info.value.message.startswith("template 'disk', line 3:")


@pytest.mark.parametrize(("source", "words"), [
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ when | cst }}", "not an ISO-8601 time"),
    ("{{ when | duration }}", "not a number of seconds"),
])
def test_runtime_error_is_reported_not_raised_raw(renderer: Renderer, source: str, words: str) -> None:
    with pytest.raises(RenderError) as info:
        renderer.render_string(source, {"when": "yesterday"})

    assert info.value.code == "runtime"
    assert words in info.value.message


# ---- built-in and user templates -------------------------------------------------------------------------------


def test_builtins_are_listed_without_a_user_directory(renderer: Renderer) -> None:
    assert renderer.names() == ["alertmanager", "alertmanager_actioncard", "error", "gitlab", "grafana", "info",
                                "jenkins", "markdown", "text", "zabbix"]
    assert renderer.source("info")[1] == "builtin"
    assert "#008000" in renderer.source("info")[0]


def test_user_template_overrides_a_builtin_by_name(user_dir: Path) -> None:
    (user_dir / "info.j2").write_text('{% set title = "[巡检] 自定义" %}#### {{ title }}: {{ content }}',
                                      encoding="utf-8")
    renderer = Renderer(user_dir)

    message = renderer.render("info", {"content": "ok"})

    assert isinstance(message, Markdown)
    assert (message.title, message.text) == ("[巡检] 自定义", "#### [巡检] 自定义: ok")
    assert renderer.source("info")[1] == str(user_dir / "info.j2")
    assert renderer.source("error")[1] == "builtin"


def test_user_templates_extend_the_list(user_dir: Path) -> None:
    (user_dir / "deploy.j2").write_text("{{ service }} 已发布", encoding="utf-8")
    (user_dir / "team").mkdir()
    (user_dir / "team" / "oncall.j2").write_text("值班: {{ who }}", encoding="utf-8")
    (user_dir / "notes.txt").write_text("not a template", encoding="utf-8")
    renderer = Renderer(user_dir)

    assert renderer.names() == ["alertmanager", "alertmanager_actioncard", "deploy", "error", "gitlab", "grafana",
                                "info", "jenkins", "markdown", "team/oncall", "text", "zabbix"]
    assert renderer.exists("deploy") and not renderer.exists("notes")
    assert renderer.render("team/oncall", {"who": "李四"}).to_payload()["text"]["content"] == "值班: 李四"


def test_user_template_can_include_a_builtin(user_dir: Path) -> None:
    (user_dir / "wrapped.j2").write_text('{% include "text.j2" %}\n\n-- 运维组', encoding="utf-8")

    message = Renderer(user_dir).render("wrapped", {"content": "备份完成"})

    assert message.to_payload()["text"]["content"] == "备份完成\n-- 运维组"


def test_unknown_template_lists_the_known_ones(renderer: Renderer) -> None:
    with pytest.raises(RenderError) as info:
        renderer.render("disk", {})

    assert info.value.code == "unknown_template"
    assert info.value.message == ("no template named 'disk' "
                                  "(templates: alertmanager, alertmanager_actioncard, error, gitlab, grafana, info, "
                                  "jenkins, markdown, text, zabbix)")


@pytest.mark.parametrize("name", ["../secret", "../../secret", "sub/../../secret", "/tmp/secret", ".hidden",
                                  "..", "", "info.j2/../info", "a\\..\\secret"])
def test_names_cannot_escape_the_template_directory(user_dir: Path, name: str) -> None:
    (user_dir.parent / "secret.j2").write_text("leaked", encoding="utf-8")
    (user_dir / ".hidden.j2").write_text("hidden", encoding="utf-8")
    renderer = Renderer(user_dir)

    with pytest.raises(RenderError) as info:
        renderer.render(name, {})

    assert info.value.code == "unknown_template"
    assert not renderer.exists(name)


def test_include_cannot_escape_the_template_directory(user_dir: Path) -> None:
    (user_dir.parent / "secret.j2").write_text("leaked", encoding="utf-8")
    (user_dir / "sneaky.j2").write_text('{% include "../secret.j2" %}', encoding="utf-8")

    with pytest.raises(RenderError) as info:
        Renderer(user_dir).render("sneaky", {})

    assert info.value.code == "unknown_template"
    assert "leaked" not in info.value.message


def test_syntax_error_in_a_user_file_names_the_file(user_dir: Path) -> None:
    (user_dir / "broken.j2").write_text("{{ oops }", encoding="utf-8")

    with pytest.raises(RenderError) as info:
        Renderer(user_dir).render("broken", {})

    assert info.value.code == "syntax"
    assert "'broken', line 1" in info.value.message


def test_missing_user_directory_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="typo"):
        Renderer(tmp_path / "typo")

"""Filters for message text: Shanghai time, markdown escaping, byte-safe truncation, durations."""

from datetime import UTC, datetime, timedelta

import pytest

from dingrelay.rendering import Renderer, cst, duration, md_escape, truncate_bytes

# ---- cst -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    1700000000,
    1700000000.0,
    1700000000000,
    "1700000000",
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:20.123+00:00",
    "2023-11-15T06:13:20+08:00",
    "2023-11-15 06:13:20",
    datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    datetime(2023, 11, 15, 6, 13, 20),
], ids=["epoch-s", "epoch-float", "epoch-ms", "epoch-str", "iso-z", "iso-utc-offset", "iso-cst-offset",
        "naive-is-shanghai", "aware-datetime", "naive-datetime"])
def test_cst_shows_the_time_in_shanghai(value: object) -> None:
    assert cst(value) == "2023-11-15 06:13:20"


def test_cst_takes_a_strftime_format(renderer: Renderer) -> None:
    message = renderer.render_string("{{ t | cst('%m月%d日 %H:%M') }}", {"t": 1700000000})

    assert message.to_payload()["text"]["content"] == "11月15日 06:13"


@pytest.mark.parametrize(("value", "error"), [("soon", ValueError), (True, TypeError), ([1], TypeError)])
def test_cst_refuses_what_is_not_a_time(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="cst"):
        cst(value)


# ---- md_escape -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "escaped"), [
    ("**urgent**", r"\*\*urgent\*\*"),
    ("disk_usage_pct", r"disk\_usage\_pct"),
    ("# not a heading", r"\# not a heading"),
    ("  ## indented", r"  \## indented"),
    ("> not a quote", r"\> not a quote"),
    ("- not a list", r"\- not a list"),
    ("+ not a list", r"\+ not a list"),
    ("1. not a list", r"1\. not a list"),
    ("---", r"\---"),
    ("[click](http://evil)", r"\[click\](http://evil)"),
    ("![img](http://x)", r"!\[img\](http://x)"),
    ("`rm -rf`", r"\`rm -rf\`"),
    ('<font color="red">x</font>', r'\<font color="red"\>x\</font\>'),
    ("~~gone~~", r"\~\~gone\~\~"),
    ("a | b", r"a \| b"),
    ("C:\\temp", r"C:\\temp"),
    ("line\n# two\n> three", "line\n\\# two\n\\> three"),
])
def test_md_escape_keeps_markdown_syntax_literal(raw: str, escaped: str) -> None:
    assert md_escape(raw) == escaped


@pytest.mark.parametrize("plain", ["磁盘使用率 95%", "host-01 is down: 3 of 5 checks", "price 1.5, total #3", ""])
def test_md_escape_leaves_plain_text_alone(plain: str) -> None:
    assert md_escape(plain) == plain


def test_md_escape_in_a_template_keeps_user_text_from_formatting(renderer: Renderer) -> None:
    source = '{% set title = "告警" %}**主机**：{{ host | md_escape }}'

    text = renderer.render_string(source, {"host": "*db*_01"}).to_payload()["markdown"]["text"]

    assert text == r"**主机**：\*db\*\_01"


# ---- truncate_bytes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "n", "end", "expected"), [
    ("磁盘告警", 12, "…", "磁盘告警"),
    ("磁盘告警", 11, "…", "磁盘…"),
    ("磁盘告警", 7, "…", "磁…"),
    ("磁盘告警", 5, "…", "…"),
    ("磁盘告警", 2, "…", ""),
    ("disk full", 7, "...", "disk..."),
    ("disk full", 4, "", "disk"),
    ("ok😀😀", 7, "", "ok😀"),
])
def test_truncate_bytes_cuts_to_the_byte_budget(text: str, n: int, end: str, expected: str) -> None:
    assert truncate_bytes(text, n, end) == expected


@pytest.mark.parametrize("text", ["磁盘使用率超过九成", "a磁b盘😀c", "ééé", "plain ascii text"])
def test_truncate_bytes_never_splits_a_character(text: str) -> None:
    for n in range(len(text.encode()) + 2):
        out = truncate_bytes(text, n)
        assert len(out.encode()) <= n
        assert out == text or text.startswith(out.removesuffix("…"))
        assert "\ufffd" not in out


def test_truncate_bytes_in_a_template_keeps_the_message_under_its_limit(renderer: Renderer) -> None:
    message = renderer.render_string("{{ log | truncate_bytes(30) }}", {"log": "错误" * 5000})

    assert message.to_payload()["text"]["content"] == "错误错误错误错误错…"


# ---- duration --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0s"),
    (45, "45s"),
    (59.9, "59s"),
    (90, "1m30s"),
    (3 * 3600 + 2 * 60 + 15, "3h2m"),
    (3 * 3600 + 15, "3h"),
    (2 * 86400 + 4 * 3600 + 1800, "2d4h"),
    (86400 + 59, "1d"),
    (-45, "-45s"),
    ("120", "2m"),
    (timedelta(hours=1, minutes=5), "1h5m"),
])
def test_duration_shows_the_two_largest_units(value: object, shown: str) -> None:
    assert duration(value) == shown


def test_duration_in_a_template(renderer: Renderer) -> None:
    message = renderer.render_string("已持续 {{ secs | duration }}", {"secs": 7320})

    assert message.to_payload()["text"]["content"] == "已持续 2h2m"

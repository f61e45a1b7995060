"""The 自定义关键词 pre-check: refuse at our door what DingTalk would refuse with 310000."""

from __future__ import annotations

import pytest

from dingrelay.dingtalk import (
    ActionCard,
    ActionCardButton,
    FeedCard,
    FeedCardLink,
    KeywordMissing,
    Link,
    Markdown,
    Message,
    MultiActionCard,
    Text,
    check_keywords,
    satisfies_keywords,
)

KEYWORDS = ["监控"]


def feed(*titles: str) -> FeedCard:
    return FeedCard(links=[FeedCardLink(title=t, message_url="https://e.com", pic_url="https://e.com/p.png")
                           for t in titles])


@pytest.mark.parametrize(
    ("message", "satisfied"),
    [
        pytest.param(Text(content="监控报警: disk 91%"), True, id="text-content"),
        pytest.param(Text(content="disk 91%"), False, id="text-without"),
        pytest.param(Markdown(title="监控", text="disk 91%"), True, id="markdown-title-only"),
        pytest.param(Markdown(title="日报", text="## 监控 summary"), True, id="markdown-text-only"),
        pytest.param(Markdown(title="日报", text="all fine"), False, id="markdown-without"),
        pytest.param(Link(title="deploy", text="v1.2.3", message_url="https://e.com"), False, id="link-without"),
        pytest.param(Link(title="deploy", text="v1.2.3 监控", message_url="https://e.com"), True, id="link-text"),
        pytest.param(ActionCard(title="incident", text="down", single_title="打开监控", single_url="https://e.com"),
                     True, id="single-button-label"),
        pytest.param(MultiActionCard(title="approve?", text="deploy v2?", buttons=[
            ActionCardButton(title="Yes", action_url="https://e.com/y"),
            ActionCardButton(title="去监控看看", action_url="https://e.com/n")]), True, id="second-button-label"),
        pytest.param(MultiActionCard(title="approve?", text="deploy v2?", buttons=[
            ActionCardButton(title="Yes", action_url="https://e.com/y")]), False, id="buttons-without"),
        pytest.param(feed("周报", "监控报警 2"), True, id="feedcard-second-link-title"),
        pytest.param(feed("周报", "日报"), False, id="feedcard-without"),
        pytest.param(Text(content="disk full", at={"atUserIds": ["监控值班"]}), True, id="appended-mention"),
    ],
)
def test_a_keyword_anywhere_in_the_message_satisfies_the_robot(message: Message, satisfied: bool) -> None:
    assert satisfies_keywords(message, KEYWORDS) is satisfied


def test_any_one_of_several_keywords_is_enough() -> None:
    assert satisfies_keywords(Text(content="报警: disk 91%"), ["监控", "报警"])


def test_keywords_are_case_sensitive_substrings_like_dingtalks() -> None:
    assert satisfies_keywords(Text(content="[ALERT] disk"), ["ALERT"])
    assert not satisfies_keywords(Text(content="[alert] disk"), ["ALERT"])


@pytest.mark.parametrize("keywords", [[], ()], ids=["list", "tuple"])
def test_a_robot_without_keywords_accepts_everything(keywords: list[str]) -> None:
    assert satisfies_keywords(Text(content="anything"), keywords)
    check_keywords(Text(content="anything"), keywords)


def test_a_message_without_any_keyword_raises_keyword_missing_naming_them() -> None:
    with pytest.raises(KeywordMissing) as caught:
        check_keywords(Text(content="disk 91%"), ["监控", "报警"], robot="ops")
    exc = caught.value
    assert exc.keywords == ["监控", "报警"]
    assert exc.robot == "ops"
    assert "robot ops requires keyword 监控 or 报警" in str(exc)
    # the local check did not reach DingTalk, so it must not claim DingTalk's errcode
    assert exc.errcode == 0 and "checked before sending" in str(exc) and "310000" not in str(exc)
    assert not exc.retryable


def test_a_message_with_a_keyword_passes_the_check_silently() -> None:
    assert check_keywords(Text(content="监控报警"), KEYWORDS) is None

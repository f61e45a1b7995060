"""Secrets and webhook URLs mask themselves wherever they are printed."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from core_fakes import SECRET, SESSION_KEY, SESSION_WEBHOOK, TOKEN, WEBHOOK

from dingrelay.dingtalk import Secret, WebhookURL, mask_url
from dingrelay.dingtalk.masking import mask_text, mask_value


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        pytest.param(WEBHOOK, "https://oapi.dingtalk.com/robot/send?access_token=0123****", id="access_token"),
        pytest.param(SESSION_WEBHOOK, "https://oapi.dingtalk.com/robot/sendBySession?session=76da****",
                     id="session"),
        pytest.param(f"{WEBHOOK}&timestamp=1700000000000&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D",
                     "https://oapi.dingtalk.com/robot/send?access_token=0123****&timestamp=1700000000000&sign=TSZb****",
                     id="signed-keeps-timestamp"),
        pytest.param("https://example.com/hook?Access_Token=abcdefghijkl&page=2",
                     "https://example.com/hook?Access_Token=abcd****&page=2", id="case-insensitive-name"),
        pytest.param("https://example.com/hook?token=short", "https://example.com/hook?token=****",
                     id="short-value-fully-hidden"),
        pytest.param("https://oapi.dingtalk.com/robot/send", "https://oapi.dingtalk.com/robot/send", id="no-query"),
    ],
)
def test_mask_url_hides_secret_query_values_and_keeps_the_rest(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_of_an_unparseable_url_reveals_nothing() -> None:
    assert mask_url(f"http://[{TOKEN}/robot/send?access_token={TOKEN}") == "<unparseable url>"


@pytest.mark.parametrize(("value", "masked"), [("abcdef123456", "abcd****"), ("abcdefgh", "****"), ("", "****")])
def test_mask_value_keeps_at_most_a_four_character_prefix(value: str, masked: str) -> None:
    assert mask_value(value) == masked


def test_mask_text_masks_every_url_inside_a_sentence() -> None:
    text = f"POST {WEBHOOK} failed; retried via '{SESSION_WEBHOOK}' (giving up)"
    masked = mask_text(text)
    assert TOKEN not in masked
    assert SESSION_KEY not in masked
    assert masked.startswith("POST https://oapi.dingtalk.com/robot/send?access_token=0123**** failed; retried via '")
    assert masked.endswith("' (giving up)")


@pytest.mark.parametrize(
    "render",
    [str, repr, lambda s: f"{s}", lambda s: f"{s!r}", "{}".format, lambda s: str([s]), lambda s: str({"k": s})],
    ids=["str", "repr", "fstring", "fstring-repr", "format", "in-list", "in-dict"],
)
def test_a_secret_never_prints_its_value(render: Callable[[object], str]) -> None:
    assert SECRET not in render(Secret(SECRET))
    assert "****" in render(Secret(SECRET))


@pytest.mark.parametrize(
    "render",
    [str, repr, lambda s: f"{s}", lambda s: str([s])],
    ids=["str", "repr", "fstring", "in-list"],
)
def test_a_webhook_url_prints_with_its_token_masked(render: Callable[[object], str]) -> None:
    shown = render(WebhookURL(WEBHOOK))
    assert TOKEN not in shown
    assert "oapi.dingtalk.com/robot/send?access_token=0123****" in shown


def test_secrets_reveal_their_value_only_when_asked() -> None:
    assert Secret(SECRET).reveal() == SECRET
    assert WebhookURL(WEBHOOK).reveal() == WEBHOOK


def test_secrets_compare_and_hash_by_value() -> None:
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret("SECother")
    assert Secret(SECRET) != SECRET
    assert len({Secret(SECRET), Secret(SECRET)}) == 1


def test_an_empty_secret_is_falsy() -> None:
    assert not Secret("")
    assert Secret(SECRET)


def test_a_logged_secret_stays_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("dingrelay.test").info("robot %s with secret %s", WebhookURL(WEBHOOK), Secret(SECRET))
    assert TOKEN not in caplog.text
    assert SECRET not in caplog.text
    assert "access_token=0123****" in caplog.text

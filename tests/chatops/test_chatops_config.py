"""``bots.<name>.alertmanager`` and ``silencers``: what a bot gets from them, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dingrelay.config import ConfigError, parse_settings
from dingrelay.wiring import build


def settings(tmp_path: Path, **bot: Any) -> Any:
    return parse_settings({"storage": {"url": f"sqlite:///{tmp_path / 'q.db'}"},
                           "bots": {"helper": {"app_secret": "s3cret", **bot}}}, env={"AM_TOKEN": "tok-123"})


def problems(tmp_path: Path, **bot: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        build(settings(tmp_path, **bot), threads=None)
    return {p.key: p.message for p in caught.value.problems}


@pytest.mark.parametrize(("bot", "key", "says"), [
    ({"silencers": ["manager1234"]}, "bots.helper.silencers", "bots.helper.alertmanager is not"),
    ({"alertmanager": {"url": "http://am:9093"}, "silencers": []}, "bots.helper.silencers", "at least 1"),
    ({"alertmanager": {"url": "am:9093"}}, "bots.helper.alertmanager.url", "http://alertmanager:9093"),
    ({"alertmanager": {"url": "http://admin:pw@am:9093"}}, "bots.helper.alertmanager.url", "put a bearer token"),
    ({"alertmanager": {}}, "bots.helper.alertmanager.url", ""),
    ({"alertmanager": {"url": "http://am:9093", "tokn": "x"}}, "bots.helper.alertmanager.tokn", ""),
    ({"alertmanager": {"url": "http://am:9093"}, "handlers": "chatops_clash_handlers"}, "bots.helper.handlers",
     "registers ack, a ChatOps command"),
])
def test_a_bad_chatops_setting_names_its_key(tmp_path: Path, bot: dict[str, Any], key: str, says: str) -> None:
    found = problems(tmp_path, **bot)
    assert list(found) == [key]
    assert says in found[key]
    assert "pw@" not in found[key]


def test_a_bot_with_alertmanager_has_the_commands_and_one_without_has_none(tmp_path: Path) -> None:
    with_am = build(settings(tmp_path, alertmanager={"url": "http://am:9093", "token": "${AM_TOKEN}"},
                             silencers=["manager1234"]), threads=None)
    try:
        assert with_am.bots is not None
        pipeline = with_am.bots.pipeline("helper")
        assert [c.name for c in pipeline.commands] == ["alerts", "silences", "silence", "unsilence", "ack"]
        assert "tok-123" not in repr(with_am.settings.masked())
    finally:
        with_am.close()
    without = build(settings(tmp_path), threads=None)
    try:
        assert without.bots is not None and without.bots.pipeline("helper").commands == []
    finally:
        without.close()

"""The ``metrics`` section: ``token`` is a secret (masked wherever settings are printed), ``listen`` is HOST:PORT,
and a wrong key is named with the fix."""

from __future__ import annotations

import pytest

from dingrelay.config import ConfigError, parse_settings


def test_the_metrics_token_is_masked_when_the_settings_are_printed() -> None:
    settings = parse_settings({"metrics": {"token": "${METRICS_TOKEN}"}}, env={"METRICS_TOKEN": "very-secret-scrape"})
    assert settings.metrics.token is not None and settings.metrics.token.reveal() == "very-secret-scrape"
    assert "very-secret-scrape" not in repr(settings) + str(settings.masked())


def test_no_metrics_section_means_anyone_may_scrape_and_no_metrics_port() -> None:
    settings = parse_settings({})
    assert (settings.metrics.token, settings.metrics.listen) == (None, None)


@pytest.mark.parametrize(("section", "key", "words"), [
    ({"listen": "9100"}, "metrics.listen", "HOST:PORT"),
    ({"listen": "host:99999"}, "metrics.listen", "HOST:PORT"),
    ({"tokn": "x"}, "metrics.tokn", "did you mean token?"),
])
def test_a_bad_metrics_section_names_the_key_and_the_fix(section: dict[str, str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"metrics": section})
    [problem] = caught.value.problems
    assert problem.key == key and words in problem.message

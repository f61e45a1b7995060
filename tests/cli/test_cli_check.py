"""`dingrelay check --config`: the effective config with secrets masked, or every problem with its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_harness import Creds, clean_env, dingrelay


def config_text(webhook: str, secret: str, extra: str = "") -> str:
    return (f"robots:\n  ops:\n    webhook: {webhook}\n    secret: {secret}\n    keywords: [监控]\n{extra}"
            "sources:\n  ci:\n    token: ${CLI_TEST_SOURCE_TOKEN}\n    robots: [ops]\n")


@pytest.mark.parametrize("secrets_from", ["file", "environment"])
def test_check_prints_the_config_with_secrets_masked_and_exits_0(tmp_path: Path, secrets_from: str) -> None:
    creds, source_token = Creds(), Creds().token
    env = clean_env(CLI_TEST_SOURCE_TOKEN=source_token)
    if secrets_from == "file":
        text = config_text(creds.webhook(8089), creds.secret)
    else:
        env.update(CLI_TEST_TOKEN=creds.token, CLI_TEST_SECRET=creds.secret)
        text = config_text("http://127.0.0.1:8089/robot/send?access_token=${CLI_TEST_TOKEN}", "${CLI_TEST_SECRET}")
    (tmp_path / "dingrelay.yaml").write_text(text, encoding="utf-8")

    result = dingrelay("check", "--config", str(tmp_path / "dingrelay.yaml"), env=env)

    assert result.code == 0, result.stderr
    assert result.stderr == ""
    *shown, last = result.stdout.splitlines()
    assert last == "ok: 1 robot(s), 1 source(s)"
    effective = yaml.safe_load("\n".join(shown))
    assert effective["robots"]["ops"] == {
        "webhook": f"http://127.0.0.1:8089/robot/send?access_token={creds.token[:4]}****", "secret": "****",
        "keywords": ["监控"], "rate_limit": 20, "rate_window_seconds": 60.0}
    assert effective["sources"]["ci"] == {"token": "****", "robots": ["ops"], "routes": [], "mention_label": None,
                                          "mentions": {}, "suppress_window_seconds": None}
    assert "监控" in result.stdout  # Chinese shown as-is
    assert creds.leaked_in(result.output) == []
    assert source_token not in result.output


BROKEN = {
    "unknown key": ("    keywrods: [巡检]\n", ["robots.ops.keywrods: unknown key; did you mean keywords?"]),
    "missing env var": ("    rate_limit: ${CLI_TEST_UNSET_VAR}\n",
                        ["robots.ops.rate_limit: environment variable CLI_TEST_UNSET_VAR is not set"]),
    "webhook without access_token": ("", ["robots.ops.webhook: lacks ?access_token="]),
    "all three at once": ("    keywrods: [巡检]\n    rate_limit: ${CLI_TEST_UNSET_VAR}\n", [
        "robots.ops.keywrods: unknown key; did you mean keywords?",
        "robots.ops.rate_limit: environment variable CLI_TEST_UNSET_VAR is not set",
        "robots.ops.webhook: lacks ?access_token="]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_lists_every_problem_with_its_key_and_exits_2(tmp_path: Path, case: str) -> None:
    extra, problems = BROKEN[case]
    creds = Creds()
    webhook = creds.webhook(8089)
    if any("webhook" in p for p in problems):
        webhook = "http://127.0.0.1:8089/robot/send?token_in_wrong_param=" + creds.token
    path = tmp_path / "dingrelay.yaml"
    path.write_text(config_text(webhook, creds.secret, extra), encoding="utf-8")

    result = dingrelay("check", "--config", str(path), env=clean_env(CLI_TEST_SOURCE_TOKEN="t" * 16))

    assert result.code == 2
    assert result.stdout == ""
    head, *items = result.stderr.splitlines()
    assert head == f"error: {path} has {len(problems)} problem(s):"
    assert len(items) == len(problems)
    for item in items:
        assert item.startswith("  - robots.ops.")
    for problem in problems:
        assert any(item.startswith(f"  - {problem}") for item in items), items
    assert creds.leaked_in(result.output) == []


def test_check_names_the_bad_key_of_a_secret_without_showing_it(tmp_path: Path) -> None:
    creds = Creds()
    not_sec = creds.secret.removeprefix("SEC")
    path = tmp_path / "dingrelay.yaml"
    path.write_text(config_text(creds.webhook(8089), not_sec), encoding="utf-8")

    result = dingrelay("check", "--config", str(path), env=clean_env(CLI_TEST_SOURCE_TOKEN="t" * 16))

    assert result.code == 2
    assert "  - robots.ops.secret: a 加签 secret starts with SEC" in result.stderr
    assert not_sec not in result.output

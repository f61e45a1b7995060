"""`dingrelay check --config`: the effective config with secrets masked, or every problem with its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_harness import Creds, clean_env, dingrelay

from dingrelay.cli.literals import literal_secrets


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
    assert result.stderr.splitlines() == ([] if secrets_from == "environment" else [
        "warning: robots.ops.secret: the secret is written in the file; write ${OPS_SECRET} and export OPS_SECRET",
        "warning: robots.ops.webhook: its access_token is written in the file; write access_token=${OPS_ACCESS_TOKEN} "
        "and export OPS_ACCESS_TOKEN"])
    *shown, last = result.stdout.splitlines()
    assert last == "ok: 1 robot(s), 1 source(s)"
    effective = yaml.safe_load("\n".join(shown))
    assert effective["robots"]["ops"] == {
        "webhook": f"http://127.0.0.1:8089/robot/send?access_token={creds.token[:4]}****", "secret": "****",
        "keywords": ["监控"], "rate_limit": 20, "rate_window_seconds": 60.0}
    assert effective["sources"]["ci"] == {"token": "****", "robots": ["ops"], "routes": [], "mention_label": None,
                                          "mentions": {}, "suppress_window_seconds": None, "card": "markdown",
                                          "alertmanager": None}
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


def test_check_warns_about_every_secret_written_in_the_file_without_showing_it_and_exits_0(tmp_path: Path) -> None:
    creds, source_token, app_secret = Creds(), Creds().token, Creds().token
    path = tmp_path / "dingrelay.yaml"
    path.write_text(config_text(creds.webhook(8089), creds.secret).replace("${CLI_TEST_SOURCE_TOKEN}", source_token)
                    + f"bots:\n  helper:\n    app_secret: {app_secret}\n", encoding="utf-8")

    result = dingrelay("check", "--config", str(path), env=clean_env())

    assert result.code == 0
    assert result.stdout.splitlines()[-1] == "ok: 1 robot(s), 1 source(s)"
    warnings = result.stderr.splitlines()
    assert [w.split(":")[1].strip() for w in warnings] == [
        "robots.ops.secret", "robots.ops.webhook", "sources.ci.token", "bots.helper.app_secret"]
    assert all(w.startswith("warning: ") and "export " in w for w in warnings)
    assert creds.leaked_in(result.output) == []
    assert source_token not in result.output and app_secret not in result.output


@pytest.mark.parametrize(("value", "literal"), [
    ("SECabcdef0123456789", True),
    ("${OPS_SECRET}", False),
    ("${OPS_SECRET:-}", False),
    ("${OPS_SECRET:-SECabcdef0123456789}", True),     # a default is written in the file too
    ("SEC${OPS_SECRET_TAIL}", True),
])
def test_a_secret_is_literal_when_any_of_it_is_written_in_the_file(value: str, literal: bool) -> None:
    problems = literal_secrets({"robots": {"ops": {"secret": value}}, "bots": {"helper": {"app_secret": value}}})
    assert [p.key for p in problems] == (["robots.ops.secret", "bots.helper.app_secret"] if literal else [])


@pytest.mark.parametrize(("webhook", "literal"), [
    ("https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef", True),
    ("https://oapi.dingtalk.com/robot/send?access_token=${OPS_ACCESS_TOKEN}", False),
    ("${OPS_WEBHOOK}", False),
    ("${OPS_WEBHOOK:-https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef}", True),
    ("http://${EMULATOR_HOST}:8089/robot/send?access_token=${OPS_ACCESS_TOKEN}", False),
])
def test_a_webhook_is_literal_when_its_access_token_is_written_in_the_file(webhook: str, literal: bool) -> None:
    problems = literal_secrets({"robots": {"ops": {"webhook": webhook}}})
    assert [p.key for p in problems] == (["robots.ops.webhook"] if literal else [])


@pytest.mark.parametrize(("value", "literal"), [("0123456789abcdef" * 4, True), ("${LINK_SECRET}", False)])
def test_the_card_links_secret_and_an_alertmanager_token_written_in_the_file_are_warned_of(
        value: str, literal: bool) -> None:
    problems = literal_secrets({"server": {"link_secret": value},
                                "sources": {"am": {"token": "${AM}", "alertmanager": {"url": "http://am:9093",
                                                                                       "token": value}}}})
    assert [p.key for p in problems] == (["server.link_secret", "sources.am.alertmanager.token"] if literal else [])
    assert all("export" in p.message for p in problems)

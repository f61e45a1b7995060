"""The YAML configuration: typed settings, ${ENV} substitution, and errors that name the key and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dingrelay
from dingrelay.config import ConfigError, Problem, Settings, load_settings, parse_settings
from dingrelay.dingtalk import Secret, WebhookURL

TOKEN = "0123456789abcdef" * 4
SECRET = "SEC" + "a1b2c3d4" * 8
SOURCE_TOKEN = "alertmanager-shared-secret-42"
DB_PASSWORD = "hunter2-db-password"
WEBHOOK = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"

FULL_EXAMPLE = """\
server:
  listen: 10.1.2.3:9090
  public_url: https://relay.example.com/
  max_body_bytes: 131072
  threads: 16
storage:
  url: postgresql+psycopg://relay:${DB_PASSWORD}@db.internal/dingrelay
robots:
  ops:
    webhook: https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}
    secret: ${OPS_SECRET}
    keywords: [监控, 报警]
    rate_limit: 18
    rate_window_seconds: 60
  dev:
    webhook: https://oapi.dingtalk.com/robot/send?access_token=${DEV_TOKEN:-fedcba9876543210}
sources:
  alertmanager:
    token: ${AM_TOKEN}
    robots: [ops, dev]
templates:
  dir: templates
delivery:
  max_attempts: 5
  backoff_base_seconds: 2
  backoff_max_seconds: 120
  penalty_seconds: 600
  request_timeout_seconds: 5
"""
ENV = {"DB_PASSWORD": DB_PASSWORD, "OPS_TOKEN": TOKEN, "OPS_SECRET": SECRET, "AM_TOKEN": SOURCE_TOKEN}


def robot(**extra: Any) -> dict[str, Any]:
    return {"webhook": WEBHOOK, **extra}


def problems(data: Any, env: dict[str, str] | None = None) -> dict[str, str]:
    """key -> message of every problem the configuration has."""
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env=env or {})
    return {p.key: p.message for p in caught.value.problems}


@pytest.fixture
def example_file(tmp_path: Path) -> Path:
    path = tmp_path / "dingrelay.yaml"
    path.write_text(FULL_EXAMPLE, encoding="utf-8")
    return path


# --- a good file ---------------------------------------------------------------------------------------------


def test_the_full_example_loads_into_typed_settings(example_file: Path) -> None:
    s = load_settings(example_file, env=ENV)
    assert isinstance(s, Settings)
    assert (s.server.host, s.server.port, s.server.threads) == ("10.1.2.3", 9090, 16)
    assert s.server.base_url == "https://relay.example.com"
    assert s.storage.url == f"postgresql+psycopg://relay:{DB_PASSWORD}@db.internal/dingrelay"
    ops = s.robots["ops"]
    assert isinstance(ops.webhook, WebhookURL)
    assert ops.webhook.reveal() == WEBHOOK
    assert ops.access_token == TOKEN
    assert isinstance(ops.secret, Secret)
    assert ops.secret.reveal() == SECRET
    assert ops.keywords == ["监控", "报警"]
    assert ops.rate_limit == 18
    assert s.robots["dev"].access_token == "fedcba9876543210"
    assert s.robots["dev"].secret is None
    assert s.sources["alertmanager"].token.reveal() == SOURCE_TOKEN
    assert s.sources["alertmanager"].robots == ["ops", "dev"]
    assert s.delivery.max_attempts == 5
    assert s.delivery.request_timeout_seconds == 5.0


SHIPPED_EXAMPLE = Path(dingrelay.__file__).parent / "examples" / "dingrelay.yaml"


def test_the_shipped_example_loads_once_its_secrets_are_exported() -> None:
    s = load_settings(SHIPPED_EXAMPLE, env={"OPS_ACCESS_TOKEN": TOKEN, "OPS_SECRET": SECRET, "HEIAN_TOKEN": "h",
                                             "HELPER_APP_SECRET": "app-secret"})
    assert s.robots["ops"].access_token == TOKEN
    assert s.bots["helper"].app_secret.reveal() == "app-secret"
    assert s.robots["ops"].secret is not None
    assert s.sources["heian"].robots == ["ops"]
    assert s.storage.url == "sqlite:///dingrelay.db"


def test_the_shipped_example_without_its_env_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(SHIPPED_EXAMPLE, env={})
    assert {p.key: p.message.split()[2] for p in caught.value.problems} == {
        "robots.ops.webhook": "OPS_ACCESS_TOKEN",
        "robots.ops.secret": "OPS_SECRET",
        "sources.heian.token": "HEIAN_TOKEN",
        "bots.helper.app_secret": "HELPER_APP_SECRET",
    }


def test_a_relative_template_dir_is_relative_to_the_config_file(example_file: Path) -> None:
    assert load_settings(example_file, env=ENV).templates.dir == (example_file.parent / "templates").resolve()


def test_the_config_path_can_come_from_the_environment(example_file: Path) -> None:
    s = load_settings(env={**ENV, "DINGRELAY_CONFIG": str(example_file)})
    assert "ops" in s.robots


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    s = load_settings(path, env={})
    assert s.server.listen == "127.0.0.1:8080"
    assert s.storage.url == "sqlite:///dingrelay.db"
    assert s.robots == {}
    assert s.delivery.penalty_seconds == 600


# --- ${ENV} --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "result"),
    [
        pytest.param("${OPS_SECRET}", {"OPS_SECRET": "SECfromenv"}, "SECfromenv", id="set"),
        pytest.param("${OPS_SECRET:-SECdefault}", {}, "SECdefault", id="default-used"),
        pytest.param("${OPS_SECRET:-SECdefault}", {"OPS_SECRET": "SECfromenv"}, "SECfromenv", id="env-wins"),
        pytest.param("SEC${PART_A}${PART_B}", {"PART_A": "ab", "PART_B": "cd"}, "SECabcd", id="several-in-one"),
        pytest.param("${OPS_SECRET:-}", {}, None, id="empty-default-means-unset"),
        pytest.param("SEC$NOT_BRACED", {"NOT_BRACED": "x"}, "SEC$NOT_BRACED", id="only-braced-form"),
    ],
)
def test_env_references_are_substituted(value: str, env: dict[str, str], result: str | None) -> None:
    secret = parse_settings({"robots": {"ops": robot(secret=value)}}, env=env).robots["ops"].secret
    assert (secret.reveal() if secret else None) == result


def test_a_substituted_value_is_not_substituted_again() -> None:
    s = parse_settings({"sources": {"a": {"token": "${A}", "robots": ["ops"]}}, "robots": {"ops": robot()}},
                       env={"A": "${B}", "B": "nope"})
    assert s.sources["a"].token.reveal() == "${B}"


def test_env_references_work_inside_lists() -> None:
    s = parse_settings({"robots": {"ops": robot(keywords=["${KW}", "报警"])}}, env={"KW": "监控"})
    assert s.robots["ops"].keywords == ["监控", "报警"]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        pytest.param({"robots": {"ops": robot(secret="${OPS_SECRET}")}}, "robots.ops.secret", id="secret"),
        pytest.param({"robots": {"ops": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=${T}"}}},
                     "robots.ops.webhook", id="webhook"),
        pytest.param({"robots": {"ops": robot(keywords=["${KW}"])}}, "robots.ops.keywords.0", id="in-list"),
    ],
)
def test_a_missing_env_var_names_the_key_and_the_variable(data: dict[str, Any], key: str) -> None:
    found = problems(data)
    assert list(found) == [key]  # reported once, not again as the empty value's own error
    assert "is not set" in found[key]
    assert "export it" in found[key]


# --- bad files -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "suggestion"),
    [
        pytest.param({"robot": {}}, "robot", "did you mean robots?", id="top-level"),
        pytest.param({"robots": {"ops": robot(secert=SECRET)}}, "robots.ops.secert", "did you mean secret?",
                     id="robot-field"),
        pytest.param({"robots": {"ops": robot(keyword=["监控"])}}, "robots.ops.keyword", "did you mean keywords?",
                     id="robot-keyword"),
        pytest.param({"server": {"lisen": "0.0.0.0:80"}}, "server.lisen", "did you mean listen?", id="server"),
        pytest.param({"delivery": {"max_atempts": 3}}, "delivery.max_atempts", "did you mean max_attempts?",
                     id="delivery"),
        pytest.param({"sources": {"am": {"token": "t", "robot": ["ops"]}}}, "sources.am.robot",
                     "did you mean robots?", id="source"),
    ],
)
def test_an_unknown_key_suggests_the_close_match(data: dict[str, Any], key: str, suggestion: str) -> None:
    found = problems(data)
    assert key in found
    assert found[key] == f"unknown key; {suggestion}"


def test_an_unknown_key_with_no_close_match_lists_the_known_ones() -> None:
    assert problems({"server": {"zzz": 1}})["server.zzz"] == (
        "unknown key; known keys: listen, public_url, max_body_bytes, threads, shutdown_seconds, link_secret")


def test_shutdown_seconds_defaults_to_10_and_a_bad_value_names_the_key() -> None:
    assert parse_settings({}, env={}).server.shutdown_seconds == 10.0
    assert parse_settings({"server": {"shutdown_seconds": 2.5}}, env={}).server.shutdown_seconds == 2.5
    for bad in (0, -1, "soon", 3600):
        assert list(problems({"server": {"shutdown_seconds": bad}})) == ["server.shutdown_seconds"]


@pytest.mark.parametrize(
    ("webhook", "says"),
    [
        pytest.param("https://oapi.dingtalk.com/robot/send", "lacks ?access_token=", id="no-token"),
        pytest.param("https://oapi.dingtalk.com/robot/send?access_token=", "lacks ?access_token=", id="empty-token"),
        pytest.param("oapi.dingtalk.com/robot/send?access_token=abc", "must be an http(s) URL", id="no-scheme"),
        pytest.param("", "must be the webhook URL", id="empty"),
        pytest.param(42, "must be the webhook URL", id="number"),
    ],
)
def test_a_bad_webhook_names_its_robot(webhook: Any, says: str) -> None:
    found = problems({"robots": {"ops": {"webhook": webhook}}})
    assert says in found["robots.ops.webhook"]


def test_a_robot_without_webhook_is_named() -> None:
    assert problems({"robots": {"ops": {"secret": SECRET}}}) == {
        "robots.ops.webhook": "is required (or app: for an app robot)"}


@pytest.mark.parametrize("secret", ["a1b2c3d4", "sec0123", "  SEC0123"])
def test_a_secret_that_does_not_start_with_sec_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"robots": {"ops": robot(secret=secret)}}, env={})
    assert caught.value.problems == [
        Problem("robots.ops.secret", "a 加签 secret starts with SEC; copy it from the robot's 安全设置")]
    assert secret not in str(caught.value)


def test_more_than_ten_keywords_is_refused() -> None:
    assert "robots.ops.keywords" in problems({"robots": {"ops": robot(keywords=[f"k{i}" for i in range(11)])}})


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ({"server": {"listen": "8080"}}, "HOST:PORT", "server.listen"),
        ({"server": {"listen": "0.0.0.0:99999"}}, "HOST:PORT", "server.listen"),
        ({"storage": {"url": "mysql://x/y"}}, "sqlite:///FILE", "storage.url"),
        ({"delivery": {"max_attempts": 0}}, "greater than or equal to 1", "delivery.max_attempts"),
        ({"delivery": {"give_up_after_seconds": 0}}, "greater than 0", "delivery.give_up_after_seconds"),
    ],
)
def test_a_bad_value_names_its_key_and_the_expected_shape(section: dict[str, Any], value: str, key: str) -> None:
    assert value in problems(section)[key]


def test_a_source_naming_an_unknown_robot_names_the_source_entry() -> None:
    found = problems({"robots": {"ops": robot()}, "sources": {"am": {"token": "t", "robots": ["ops", "opps"]}}})
    assert found == {"sources.am.robots.1": "no robot named 'opps' (robots: ops)"}


def test_two_sources_sharing_a_token_is_one_problem_naming_the_second() -> None:
    found = problems({"robots": {"ops": robot()}, "sources": {
        "am": {"token": SOURCE_TOKEN, "robots": ["ops"]}, "grafana": {"token": SOURCE_TOKEN, "robots": ["ops"]}}})
    assert found == {"sources.grafana.token": "same token as source am; give each its own"}


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({
            "server": {"listen": "nope", "lisen": "x"},
            "robots": {"ops": {"webhook": "https://oapi.dingtalk.com/robot/send", "secret": "abc"},
                       "dev": robot(secret="${DEV_SECRET}")},
        }, env={})
    keys = [p.key for p in caught.value.problems]
    assert set(keys) == {"server.listen", "server.lisen", "robots.ops.webhook", "robots.ops.secret",
                         "robots.dev.secret"}
    text = str(caught.value)
    assert text.startswith("config has 5 problem(s):\n")
    for key in keys:
        assert f"\n  - {key}: " in text


def test_cross_reference_problems_are_all_reported() -> None:
    found = problems({"robots": {"ops": robot()}, "sources": {
        "am": {"token": "t1", "robots": ["nope"]}, "gf": {"token": "t1", "robots": ["ops", "gone"]}}})
    assert set(found) == {"sources.am.robots.0", "sources.gf.robots.1", "sources.gf.token"}


# --- unreadable files ----------------------------------------------------------------------------------------


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("robots:\n  ops:\n    webhook: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "not valid YAML at line" in str(caught.value)
    assert caught.value.source == str(path)


@pytest.mark.parametrize("content", ["- robots\n- sources\n", "just a string\n"], ids=["list", "scalar"])
def test_a_file_that_is_not_a_mapping_says_so(tmp_path: Path, content: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a YAML mapping of sections"):
        load_settings(path, env={})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*nowhere\.yaml"):
        load_settings(tmp_path / "nowhere.yaml", env={})


def test_no_config_at_all_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError, match="pass --config FILE or set DINGRELAY_CONFIG"):
        load_settings(env={})


# --- secrets stay secret -------------------------------------------------------------------------------------


def test_masked_settings_contain_no_secret_token_or_password(example_file: Path) -> None:
    s = load_settings(example_file, env=ENV)
    shown = json.dumps(s.masked(), ensure_ascii=False)
    for secret in (TOKEN, SECRET, SOURCE_TOKEN, DB_PASSWORD):
        assert secret not in shown
    masked = s.masked()
    assert masked["robots"]["ops"]["webhook"] == "https://oapi.dingtalk.com/robot/send?access_token=0123****"
    assert masked["robots"]["ops"]["secret"] == "****"
    assert masked["robots"]["dev"]["secret"] is None
    assert masked["sources"]["alertmanager"]["token"] == "****"
    assert masked["storage"]["url"] == "postgresql+psycopg://relay:****@db.internal/dingrelay"
    assert masked["robots"]["ops"]["keywords"] == ["监控", "报警"]


def test_printing_settings_reveals_no_secret(example_file: Path) -> None:
    s = load_settings(example_file, env=ENV)
    for text in (repr(s), str(s), repr(s.robots["ops"]), str(s.sources)):
        for secret in (TOKEN, SECRET, SOURCE_TOKEN):
            assert secret not in text


def test_config_errors_never_echo_secret_values() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"robots": {"ops": robot(secret="not-a-SEC-secret", rate_limit="many")},
                        "sources": {"am": {"token": SOURCE_TOKEN, "robots": ["ops"], "extra": 1}}}, env={})
    text = str(caught.value)
    assert TOKEN not in text
    assert SOURCE_TOKEN not in text
    assert "not-a-SEC-secret" not in text

"""`dingrelay send` as a process against a running `dingrelay emulator`: what arrives, and every way it fails."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_harness import KEYWORD, ROBOT, Creds, EmulatorProcess, Result, dingrelay, free_port, write_config

# PROTOCOL.md §5 example bodies.
LINK = {"msgtype": "link", "link": {
    "title": "监控报警 weekly report", "text": "CPU and memory summary for week 46",
    "messageUrl": "https://example.com/r/46", "picUrl": "https://example.com/r/46.png"}}
ACTION_CARD = {"msgtype": "actionCard", "actionCard": {
    "title": "监控报警 incident", "text": "### Incident 42\nservice down", "singleTitle": "Open",
    "singleURL": "https://example.com/i/42", "btnOrientation": "0"}}
ACTION_CARD_BTNS = {"msgtype": "actionCard", "actionCard": {
    "title": "监控报警 approve?", "text": "Deploy v2?", "btnOrientation": "1",
    "btns": [{"title": "Yes", "actionURL": "https://example.com/y"},
             {"title": "No", "actionURL": "https://example.com/n"}]}}
FEED_CARD = {"msgtype": "feedCard", "feedCard": {"links": [
    {"title": "监控报警 1", "messageURL": "https://e.com/1", "picURL": "https://e.com/1.png"},
    {"title": "监控报警 2", "messageURL": "https://e.com/2", "picURL": "https://e.com/2.png"}]}}
TEXT_WITH_AT = {"msgtype": "text", "text": {"content": "监控报警 @13800000000 @manager1234 please check"},
                "at": {"atMobiles": ["13800000000"], "atUserIds": ["manager1234"], "isAtAll": False}}
MARKDOWN_TEXT = "#### 监控报警\n> CPU **95%**\n\n- host: web-1"


def json_file(tmp_path: Path, body: dict[str, Any]) -> str:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture(params=["webhook", "config"])
def target(request: pytest.FixtureRequest, webhook: str, creds: Creds, emulator_config: Path) -> list[str]:
    """How `send` is told where to go: ``--webhook/--secret`` or ``--config/--robot``."""
    if request.param == "webhook":
        return ["--webhook", webhook, "--secret", creds.secret]
    return ["--config", str(emulator_config), "--robot", ROBOT]


def send(*args: str, stdin: str | None = None) -> Result:
    return dingrelay("send", *args, stdin=stdin)


def one_error_line(result: Result) -> str:
    """The single ``error: ...`` line a failing command prints on stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


SHAPES = [
    pytest.param(["--text", "监控报警: disk 91% on web-1"],
                 {"msgtype": "text", "text": {"content": "监控报警: disk 91% on web-1"}}, id="text"),
    pytest.param(["--markdown", MARKDOWN_TEXT, "--title", "监控报警"],
                 {"msgtype": "markdown", "markdown": {"title": "监控报警", "text": MARKDOWN_TEXT}}, id="markdown"),
    pytest.param("json", LINK, id="link"),
    pytest.param("json", ACTION_CARD, id="actionCard-single-button"),
    pytest.param("json", ACTION_CARD_BTNS, id="actionCard-btns"),
    pytest.param("json", FEED_CARD, id="feedCard"),
]


@pytest.mark.parametrize(("body_args", "expected"), SHAPES)
def test_send_delivers_each_message_shape_signed(emulator: EmulatorProcess, target: list[str], tmp_path: Path,
                                                 body_args: Any, expected: dict[str, Any]) -> None:
    args = ["--json", json_file(tmp_path, expected)] if body_args == "json" else body_args

    result = send(*target, *args)

    assert result.code == 0, result.stderr
    via = ROBOT if "--robot" in target else "webhook"
    assert re.fullmatch(rf"sent {expected['msgtype']} via {via} in \d+ ms\n", result.stdout)
    [message] = emulator.messages()
    assert (message["robot"], message["msgtype"], message["body"]) == (ROBOT, expected["msgtype"], expected)
    assert message["signed"] is True and message["timestamp_ms"] is not None


def test_send_reads_a_json_body_from_stdin(emulator: EmulatorProcess, target: list[str]) -> None:
    result = send(*target, "--json", "-", stdin=json.dumps(TEXT_WITH_AT, ensure_ascii=False))

    assert result.code == 0, result.stderr
    [message] = emulator.messages()
    assert message["body"] == TEXT_WITH_AT
    assert message["signed"] is True


@pytest.mark.parametrize(("body_args", "msgtype", "field"), [
    (["--text", "监控 部署完成"], "text", "content"),
    (["--markdown", "监控 部署完成", "--title", "部署"], "markdown", "text"),
])
def test_at_options_add_the_at_object_and_append_the_handles_to_the_text(
        emulator: EmulatorProcess, target: list[str], body_args: list[str], msgtype: str, field: str) -> None:
    result = send(*target, *body_args, "--at-mobile", "13800000000", "--at-mobile", "13900000000",
                  "--at-user", "manager1234", "--at-all")

    assert result.code == 0, result.stderr
    [message] = emulator.messages()
    body = message["body"]
    assert body["at"] == {"atMobiles": ["13800000000", "13900000000"], "atUserIds": ["manager1234"],
                          "isAtAll": True}
    assert body[msgtype][field] == "监控 部署完成\n@13800000000 @13900000000 @manager1234"
    assert message["signed"] is True


def test_at_options_do_not_repeat_a_handle_the_text_already_mentions(emulator: EmulatorProcess,
                                                                      target: list[str]) -> None:
    result = send(*target, "--text", "监控 @13800000000 请处理", "--at-mobile", "13800000000")

    assert result.code == 0, result.stderr
    [message] = emulator.messages()
    assert message["body"]["text"]["content"] == "监控 @13800000000 请处理"
    assert message["body"]["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "refused_by_emulator"), [
    ("--config --robot", False),
    ("--webhook --secret --keyword", False),
    ("--webhook --secret", True),
])
def test_a_message_without_the_keyword_fails_saying_the_keyword_is_missing(
        emulator: EmulatorProcess, webhook: str, creds: Creds, emulator_config: Path, form: str,
        refused_by_emulator: bool) -> None:
    target = {
        "--config --robot": ["--config", str(emulator_config), "--robot", ROBOT],
        "--webhook --secret --keyword": ["--webhook", webhook, "--secret", creds.secret, "--keyword", KEYWORD],
        "--webhook --secret": ["--webhook", webhook, "--secret", creds.secret],
    }[form]

    result = send(*target, "--text", "磁盘 91%")

    assert result.code == 1
    assert result.stdout == ""
    line = one_error_line(result)
    assert "keyword" in line and "lacks it" in line
    if refused_by_emulator:
        # Only DingTalk knows the keyword here; the CLI still says what is wrong.
        assert "自定义关键词" in line
        assert [(r["errcode"], r["errmsg"]) for r in emulator.rejections()] == [(310000, "keywords not in content")]
    else:
        assert f"requires keyword {KEYWORD}" in line
        assert emulator.rejections() == []  # caught before sending
    assert emulator.messages() == []


@pytest.mark.parametrize("form", ["webhook", "config"])
def test_a_wrong_secret_fails_saying_the_signature_was_refused(emulator: EmulatorProcess, webhook: str,
                                                              creds: Creds, tmp_path: Path, form: str) -> None:
    wrong = Creds(token=creds.token)  # the right robot, another secret
    if form == "webhook":
        target = ["--webhook", webhook, "--secret", wrong.secret]
    else:
        target = ["--config", str(write_config(tmp_path / "wrong.yaml", emulator.port, wrong)), "--robot", ROBOT]

    result = send(*target, "--text", "监控 部署完成")

    assert result.code == 1
    assert "the signature was refused" in one_error_line(result)
    assert emulator.messages() == []
    assert [(r["errcode"], r["errmsg"]) for r in emulator.rejections()] == [(310000, "sign not match")]
    assert wrong.leaked_in(result.output) == []


def test_send_to_an_unreachable_webhook_fails_saying_so(creds: Creds) -> None:
    result = send("--webhook", creds.webhook(free_port()), "--secret", creds.secret, "--text", "监控 ok",
                  "--timeout", "5")

    assert result.code == 1
    line = one_error_line(result)
    assert "could not reach http://127.0.0.1:" in line
    assert f"access_token={creds.token[:4]}****" in line


USAGE_ERRORS = [
    pytest.param(["{robot}"], "give exactly one of --text, --markdown or --json", id="no-body"),
    pytest.param(["{robot}", "--text", "监控 a", "--markdown", "监控 b", "--title", "t"],
                 "give exactly one of --text, --markdown or --json", id="text-and-markdown"),
    pytest.param(["{robot}", "--text", "监控 a", "--json", "{body}"],
                 "give exactly one of --text, --markdown or --json", id="text-and-json"),
    pytest.param(["{robot}", "--markdown", "监控 b"], "--markdown needs --title", id="markdown-without-title"),
    pytest.param(["--webhook", "{base}/robot/send", "--text", "监控 a"], "--webhook lacks ?access_token=",
                 id="webhook-without-access-token"),
    pytest.param(["--webhook", "{base}/robot/send?access_token=", "--text", "监控 a"],
                 "--webhook lacks ?access_token=", id="webhook-with-empty-access-token"),
    pytest.param(["--config", "{config}", "--robot", "nope", "--text", "监控 a"],
                 "no robot named 'nope' in {config} (robots: ops)", id="unknown-robot"),
    pytest.param(["--robot", "ops", "--text", "监控 a"], "--robot needs --config", id="robot-without-config"),
    pytest.param(["--text", "监控 a"], "give --webhook URL", id="no-target"),
    pytest.param(["--webhook", "{webhook}", "--secret", "not-a-sec-secret", "--text", "监控 a"],
                 "--secret must be the robot's 加签 secret, starting with SEC", id="secret-without-SEC"),
    pytest.param(["{robot}", "--json", "{bad_json}"], "not valid JSON at line 1, column 13", id="json-not-json"),
    pytest.param(["{robot}", "--json", "{list_json}"], "must be a JSON object with msgtype", id="json-not-object"),
]


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_clear_line_and_send_nothing(
        emulator: EmulatorProcess, webhook: str, emulator_config: Path, tmp_path: Path, args: list[str],
        expected: str) -> None:
    (tmp_path / "bad.json").write_text('{"msgtype": ', encoding="utf-8")
    (tmp_path / "list.json").write_text('["text"]', encoding="utf-8")
    values = {"config": str(emulator_config), "webhook": webhook, "base": emulator.url,
              "body": json_file(tmp_path, LINK), "bad_json": str(tmp_path / "bad.json"),
              "list_json": str(tmp_path / "list.json")}
    argv: list[str] = []
    for arg in args:
        argv += ["--config", values["config"], "--robot", ROBOT] if arg == "{robot}" else [arg.format(**values)]

    result = send(*argv)

    assert result.code == 2
    assert result.stdout == ""
    assert expected.format(**values) in one_error_line(result)
    assert emulator.messages() == [] and emulator.rejections() == []


# -- secrets --------------------------------------------------------------------------------------


SCENARIOS = {
    "delivered via --webhook": ["--webhook", "{webhook}", "--secret", "{secret}", "--text", "监控 ok"],
    "delivered via --config": ["--config", "{config}", "--robot", ROBOT, "--text", "监控 ok"],
    "keyword refused by DingTalk": ["--webhook", "{webhook}", "--secret", "{secret}", "--text", "ok"],
    "keyword caught before sending": ["--config", "{config}", "--robot", ROBOT, "--text", "ok"],
    "timestamp refused (no secret)": ["--webhook", "{webhook}", "--text", "监控 ok"],
    "usage error": ["--webhook", "{webhook}", "--secret", "{secret}"],
    "message invalid": ["--webhook", "{webhook}", "--secret", "{secret}", "--text", ""],
    "unreachable": ["--webhook", "{dead_webhook}", "--secret", "{secret}", "--text", "监控 ok"],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_send_never_prints_the_secret_or_the_full_access_token(emulator: EmulatorProcess, webhook: str,
                                                               creds: Creds, emulator_config: Path,
                                                               scenario: str) -> None:
    values = {"webhook": webhook, "secret": creds.secret, "config": str(emulator_config),
              "dead_webhook": creds.webhook(free_port())}

    result = send(*(arg.format(**values) for arg in SCENARIOS[scenario]))

    assert result.output.strip()  # it did say something
    assert creds.leaked_in(result.output) == []

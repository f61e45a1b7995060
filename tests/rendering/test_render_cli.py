"""`dingrelay render`: preview the DingTalk JSON a template makes."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dingrelay.cli import main

CHECK = {"title": "磁盘检查", "content": "/data 使用率 42%", "url": "https://ops.example.com/c/1"}


@pytest.fixture(autouse=True)
def _no_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DINGRELAY_CONFIG", raising=False)


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["render", *args], input=stdin)


def test_render_prints_the_dingtalk_json_and_its_size() -> None:
    result = run("error", "--data", json.dumps(CHECK))

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == "[巡检] 每天巡检异常"
    assert "<font color=#FF0000>" in payload["markdown"]["text"]
    assert "磁盘检查" in result.stdout  # Chinese kept readable, not \u escapes
    size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    assert result.stderr == f"{size} bytes (DingTalk accepts at most 20000)\n"


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_render_reads_data_from_a_file_or_stdin(tmp_path: Path, source: str) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"content": "部署完成"}), encoding="utf-8")

    result = run("text", "--data", f"@{data}") if source == "file" else \
        run("text", "--data", "-", stdin='{"content": "部署完成"}')

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"msgtype": "text", "text": {"content": "部署完成"}}


def test_render_uses_the_template_directory_from_config(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "deploy.j2").write_text("{{ service }} 已发布", encoding="utf-8")
    config = tmp_path / "dingrelay.yaml"
    config.write_text("templates:\n  dir: tpl\n", encoding="utf-8")

    result = run("--config", str(config), "deploy", "--data", '{"service": "api"}')

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"]["content"] == "api 已发布"


def test_render_without_config_knows_only_builtins() -> None:
    result = run("deploy", "--data", "{}")

    assert result.exit_code != 0
    assert result.stderr == ("error: no template named 'deploy' "
                             "(templates: alertmanager, alertmanager_actioncard, error, gitlab, grafana, info, "
                             "jenkins, markdown, text, zabbix)\n")


@pytest.mark.parametrize(("args", "message"), [
    (["info", "--data", '{"content": "x"}'], "error: template 'info' uses 'title', which the data does not define"),
    (["info"], "error: template 'info' uses 'title'"),
    (["../etc/passwd"], "error: no template named '../etc/passwd'"),
    (["text", "--data", '{"content": '], "error: --data is not valid JSON at line 1, column 13"),
    (["text", "--data", '["content"]'], "error: --data must be a JSON object"),
    (["text", "--data", "@/nonexistent/data.json"], "error: --data @/nonexistent/data.json: cannot read it"),
    (["text", "--data", '{"content": ""}'], "error: template 'text' made an invalid text message"),
])
def test_render_fails_with_one_clear_line(args: list[str], message: str) -> None:
    result = run(*args)

    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_render_refuses_a_missing_template_directory(tmp_path: Path) -> None:
    config = tmp_path / "dingrelay.yaml"
    config.write_text("templates:\n  dir: nowhere\n", encoding="utf-8")

    result = run("--config", str(config), "text", "--data", '{"content": "x"}')

    assert result.exit_code != 0
    assert result.stderr.startswith("error: templates.dir: template directory ")
    assert "nowhere" in result.stderr

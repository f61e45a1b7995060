"""``dingrelay render``: preview the DingTalk JSON a template makes, without sending anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .options import config_option, fail, settings_or_exit


@click.command()
@config_option
@click.argument("template")
@click.option("--data", "data_arg", default="{}", show_default=True,
              help="Template variables: a JSON object, @FILE, or - for stdin.")
def render(config_path: str | None, template: str, data_arg: str) -> None:
    """Render TEMPLATE with --data and print the DingTalk JSON it makes.

    The JSON goes to stdout (pipe it to `dingrelay send --json -`); its size goes to stderr.
    Without --config only the built-in templates (error, info, markdown, text) exist.

    \b
    dingrelay render info --data '{"title": "磁盘", "content": "/data 42%"}'
    dingrelay render --config dingrelay.yaml disk --data @alert.json
    """
    from ..dingtalk.messages import MAX_BODY_BYTES
    from ..rendering import Renderer, RenderError

    user_dir = settings_or_exit(config_path).templates.dir if config_path else None
    data = _data(data_arg)
    try:
        renderer = Renderer(user_dir)
    except NotADirectoryError as exc:
        fail(f"templates.dir: {exc}", 2)
    try:
        message = renderer.render(template, data)
    except RenderError as exc:
        fail(exc.message)
    click.echo(json.dumps(message.to_payload(), ensure_ascii=False, indent=2))
    click.echo(f"{message.size()} bytes (DingTalk accepts at most {MAX_BODY_BYTES})", err=True)


def _data(arg: str) -> dict[str, Any]:
    if arg == "-":
        where, text = "--data - (stdin)", sys.stdin.read()
    elif arg.startswith("@"):
        where = f"--data {arg}"
        try:
            text = Path(arg[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{where}: cannot read it: {exc.strerror}", 2)
    else:
        where, text = "--data", arg
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{where} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 2)
    if not isinstance(data, dict):
        fail(f"{where} must be a JSON object of template variables, like {{\"content\": \"...\"}}", 2)
    return data

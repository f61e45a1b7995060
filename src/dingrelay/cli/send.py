"""``dingrelay send``: one message from a shell, for CI pipelines and scripts."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click

from .options import config_option, fail, settings_or_exit


@click.command()
@click.option("--webhook", envvar="DINGRELAY_WEBHOOK", help="Robot webhook URL (env DINGRELAY_WEBHOOK).")
@click.option("--secret", envvar="DINGRELAY_SECRET", help="加签 secret, SEC... (env DINGRELAY_SECRET).")
@click.option("--keyword", "keywords", multiple=True, help="The robot's custom keyword, checked before sending.")
@config_option
@click.option("--robot", help="Robot name from the config file (with --config).")
@click.option("--text", help="Send a text message.")
@click.option("--markdown", help="Send a markdown message (needs --title).")
@click.option("--title", help="Title of the markdown message.")
@click.option("--json", "json_file", type=click.File("r", encoding="utf-8"),
              help="Send a DingTalk JSON body of any msgtype from FILE ('-' for stdin).")
@click.option("--at-mobile", "at_mobiles", multiple=True, help="@ a member by mobile number (repeatable).")
@click.option("--at-user", "at_users", multiple=True, help="@ a member by userId (repeatable).")
@click.option("--at-all", is_flag=True, help="@ everyone.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for DingTalk.")
def send(webhook: str | None, secret: str | None, keywords: tuple[str, ...], config_path: str | None,
         robot: str | None, text: str | None, markdown: str | None, title: str | None,
         json_file: Any, at_mobiles: tuple[str, ...], at_users: tuple[str, ...], at_all: bool,
         timeout: float) -> None:
    """Send one message now and exit 0 on success, non-zero with the reason otherwise.

    \b
    dingrelay send --webhook "$URL" --secret "$SEC" --text "监控: 部署完成"
    dingrelay send --config dingrelay.yaml --robot ops --markdown "#### 巡检 ok" --title 巡检
    """
    from ..dingtalk import DingTalkError, RobotClient, parse_message

    bodies = [b for b in (text, markdown, json_file) if b is not None]
    if len(bodies) != 1:
        fail("give exactly one of --text, --markdown or --json", 2)
    if markdown is not None and not title:
        fail("--markdown needs --title (shown in the chat list and notification)", 2)

    target = _robot(webhook, secret, keywords, config_path, robot)
    payload = _payload(text, markdown, title, json_file, at_mobiles, at_users, at_all)
    try:
        message = parse_message(payload, allow_image=True)
        with RobotClient(timeout=timeout) as client:
            receipt = client.send(target, message)
    except DingTalkError as exc:
        fail(str(exc))
    click.echo(f"sent {message.msgtype} via {target.name or 'webhook'} in {receipt.elapsed * 1000:.0f} ms")


def _robot(webhook: str | None, secret: str | None, keywords: tuple[str, ...], config_path: str | None,
           robot: str | None) -> Any:
    from ..dingtalk import Robot

    if robot:
        if not config_path:
            fail("--robot needs --config FILE (or DINGRELAY_CONFIG)", 2)
        settings = settings_or_exit(config_path)
        rs = settings.robots.get(robot)
        if rs is None:
            fail(f"no robot named {robot!r} in {config_path} (robots: {', '.join(settings.robots) or 'none'})", 2)
        if rs.webhook is None:
            fail(f"robot {robot} is an app robot; send to it through the gateway (dingrelay serve, then "
                 "POST /api/v1/messages)", 2)
        return Robot(webhook=rs.webhook.reveal(), secret=rs.secret.reveal() if rs.secret else None,
                     keywords=tuple(keywords) or tuple(rs.keywords), name=robot)
    if not webhook:
        fail("give --webhook URL (or DINGRELAY_WEBHOOK), or --config FILE --robot NAME", 2)
    if not parse_qs(urlsplit(webhook).query).get("access_token"):
        fail("--webhook lacks ?access_token=...; copy the whole webhook URL from the robot's settings", 2)
    if secret and not secret.startswith("SEC"):
        fail("--secret must be the robot's 加签 secret, starting with SEC", 2)
    return Robot(webhook=webhook, secret=secret or None, keywords=tuple(keywords))


def _payload(text: str | None, markdown: str | None, title: str | None, json_file: Any,
             at_mobiles: tuple[str, ...], at_users: tuple[str, ...], at_all: bool) -> dict[str, Any]:
    payload: dict[str, Any]
    if text is not None:
        payload = {"msgtype": "text", "text": {"content": text}}
    elif markdown is not None:
        payload = {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    else:
        name = getattr(json_file, "name", "-")
        try:
            payload = json.load(json_file if json_file is not None else sys.stdin)
        except json.JSONDecodeError as exc:
            fail(f"--json {name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 2)
        if not isinstance(payload, dict):
            fail(f"--json {name}: must be a JSON object with msgtype", 2)
    if at_mobiles or at_users or at_all:
        at = dict(payload.get("at") or {})
        if at_mobiles:
            at["atMobiles"] = [*at.get("atMobiles", []), *at_mobiles]
        if at_users:
            at["atUserIds"] = [*at.get("atUserIds", []), *at_users]
        if at_all:
            at["isAtAll"] = True
        payload["at"] = at
    return payload

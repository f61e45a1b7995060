"""``/hooks/…``: monitoring systems' webhooks become DingTalk cards (issue #5 §1–3).

::

    POST /hooks/alertmanager/<source>[?template=NAME]   Alertmanager's webhook payload, version 4
    POST /hooks/grafana/<source>[?template=NAME]        Grafana's unified-alerting webhook payload
    POST /hooks/generic/<source>?template=NAME          any JSON, rendered by the named template

The source's token comes as ``Authorization: Bearer <token>`` or ``?token=<token>`` (for a webhook URL), and must
be the token of ``<source>``. One alert group becomes one card per set of robots (the source's routes decide).
A card is about its alert group (``groupKey``, else its alerts) and says each alert's state: a card saying what
the last card shown for its group on a robot said, within ``delivery.suppress_window_seconds``, is suppressed
(counted, not sent twice); firing, resolved, firing again are three cards. A rendered card lacking a robot's
keyword gets it put in front (:meth:`~dingrelay.gateway.Gateway.with_keywords`), never a 422.
Answers a sender understands: 202 once every card is stored; 503 when storing failed, so Alertmanager retries;
4xx JSON for a request it should not resend as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..adapters import PayloadInvalid
from ..adapters.alertmanager import Alert, AlertGroup, parse_alertmanager
from ..adapters.cards import fit
from ..adapters.grafana import parse_grafana
from ..adapters.routing import Card, plan
from ..dingtalk.messages import Message
from ..gateway import Accepted, Fingerprint, Gateway, Rejected
from .body import json_body
from .ding import bearer_token, gateway
from .errors import error
from .fields import text_args
from .silence_links import ACTIONCARD_TEMPLATE, card_buttons
from .ui import record_hook_sample

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

_ALERT_HOOKS = ("hooks.alertmanager", "hooks.grafana")


@bp.before_request
def _room_for_alert_groups() -> None:
    if request.endpoint in _ALERT_HOOKS:
        limits = gateway().tables.limits
        request.max_content_length = max(limits.max_body_bytes, limits.alert_body_bytes)


@bp.errorhandler(RequestEntityTooLarge)
def _body_too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    hint = "; lower max_alerts in Alertmanager's webhook_config" if request.endpoint in _ALERT_HOOKS else ""
    return error(413, "too_large", f"the request body is larger than {request.max_content_length} bytes{hint}")


@bp.post("/alertmanager/<source>")
def alertmanager(source: str) -> ResponseReturnValue:
    return _alert_hook(source, parse_alertmanager, "alertmanager")


@bp.post("/grafana/<source>")
def grafana(source: str) -> ResponseReturnValue:
    return _alert_hook(source, parse_grafana, "grafana")


@bp.post("/generic/<source>")
def generic(source: str) -> ResponseReturnValue:
    gw = gateway()
    name = _authenticated(gw, source)
    template = request.args.get("template")
    if not template:
        raise Rejected(422, "missing_field", "add ?template=NAME to the URL: the template that renders this body "
                       f"(templates: {', '.join(gw.renderer.names())})", "template")
    body = json_body(request, object_required=False)
    record_hook_sample("generic", name, body)
    args = text_args(request.args, skip=("token", "template"))
    data = {**(body if isinstance(body, dict) else {}), "body": body, "args": args, "source": name}
    robots = gw.robots_for(name, None)
    accepted = gw.accept(name, gw.with_keywords(gw.render(template, data), robots, template=template), robots)
    first = accepted.messages[0]
    return jsonify({"id": first.id, "ids": accepted.ids, "status": str(first.status)}), 202


def _alert_hook(source: str, parse: Callable[[Any], AlertGroup], default_template: str) -> ResponseReturnValue:
    gw = gateway()
    name = _authenticated(gw, source)
    body = json_body(request)
    try:
        group = parse(body)
    except PayloadInvalid as exc:
        raise Rejected(422, exc.code, exc.message, exc.field) from None
    record_hook_sample(default_template, name, body)
    template = request.args.get("template") or default_template
    entry = gw.tables.sources[name]
    now = datetime.fromtimestamp(gw.clock(), UTC)
    cards = plan(group.alerts, entry.router, entry.mentions)
    ready: list[tuple[tuple[str, ...], int, Message]] = []
    fingerprints: list[Fingerprint | None] = []
    for card in cards:  # render and check every card before storing any
        # `card: actioncard` (Alertmanager cards): buttons, made once per card (each silence link is signed)
        buttons = card_buttons(entry, card.alerts, card.robots) if default_template == "alertmanager" else None
        extra = {} if buttons is None else {"buttons": buttons}
        card_template = template if buttons is None or request.args.get("template") else ACTIONCARD_TEMPLATE

        def render(shown: int, card: Card[Alert] = card, card_template: str = card_template,
                   extra: dict[str, Any] = extra) -> Message:
            data = group.card_data(card.alerts, shown=shown, now=now, at_mobiles=card.mobiles)
            message = gw.with_keywords(gw.render(card_template, {**data, "source": name, **extra}), card.robots,
                                       template=card_template)
            gw.check_app_robots(message, card.robots)   # an app robot's msgParam holds 15,000 bytes: show fewer
            return message

        message = fit(render, len(card.alerts), too_large=_too_large)
        gw.check(message, card.robots)
        ready.append((card.robots, len(card.alerts), message))
        fingerprints.append(_fingerprint(group, card.alerts))
    # one transaction for the whole group: a failure stores no card, so Alertmanager's retry duplicates none
    accepted = gw.accept_many(name, [(message, robots) for robots, _, message in ready], fingerprints=fingerprints,
                              alert=True)
    return _answer([(robots, count, acc) for (robots, count, _), acc in zip(ready, accepted, strict=True)])


def _fingerprint(group: AlertGroup, alerts: Sequence[Alert]) -> Fingerprint:
    """A card is about its alert group (Alertmanager's ``groupKey``, else its alerts) and says which of its
    alerts (their fingerprints, else their labels) are firing and which resolved."""
    names = sorted(a.fingerprint or json.dumps(a.labels, sort_keys=True) for a in alerts)
    states = sorted(f"{a.fingerprint or json.dumps(a.labels, sort_keys=True)}:{a.status}" for a in alerts)
    identity = f"group:{group.group_key}" if group.group_key else "alerts:" + "\n".join(names)
    return Fingerprint(identity=_sha256(identity), state=_sha256("\n".join(states)))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _too_large(exc: Exception) -> bool:
    """A card over DingTalk's 20,000 bytes fails as an invalid message; showing fewer alerts may fix it."""
    return isinstance(exc, Rejected) and exc.code == "invalid_message"


def _authenticated(gw: Gateway, source: str) -> str:
    token = bearer_token() or request.args.get("token")
    if not token:
        raise Rejected(401, "unauthorized", "missing token: send Authorization: Bearer <token>, or add "
                       "?token=<token> to the webhook URL", "token")
    try:
        name = gw.authenticate(token)
    except Rejected as exc:
        raise Rejected(exc.status, exc.code, exc.message, "token") from None
    if name != source:
        raise Rejected(401, "unauthorized", f"this token is not the token of source {source!r}; "
                       "put the token's own source in the URL", "token")
    return name


def _answer(stored: list[tuple[tuple[str, ...], int, Accepted]]) -> ResponseReturnValue:
    """202 with every stored message's id, and per card its robots and how many alerts it holds."""
    cards = [{"robots": list(robots), "alerts": count, "ids": accepted.ids} for robots, count, accepted in stored]
    ids = [i for _, _, accepted in stored for i in accepted.ids]
    return jsonify({"status": "queued", "ids": ids, "cards": cards}), 202

"""``/hooks/zabbix|gitlab|jenkins/<source>``: one event, one card for the source's robots (issue #12 §4).

::

    POST /hooks/zabbix/<source>[?template=NAME]    the dingrelay Zabbix media type (examples/zabbix-dingrelay.js)
    POST /hooks/gitlab/<source>[?template=NAME]    GitLab's Pipeline, Merge Request, Push and Tag Push Hooks
    POST /hooks/jenkins/<source>[?template=NAME]   a Jenkinsfile's JSON: job_name, build_number, result, ...

The event goes to the robots of the first of the source's ``routes`` whose matchers match its labels (a Zabbix
event's tags, severity and host; a GitLab event's project, ref and status; a Jenkins build's job, branch and
result), else to the source's robots; a failing event @-s whom ``mention_label``/``mentions`` name.
The source's token comes as ``Authorization: Bearer <token>`` or ``?token=<token>``; GitLab's webhook "Secret
token" arrives as ``X-Gitlab-Token``, and is the source's token too. Every token presented must be the source's
(compared in constant time); none is a 401. The card is cut to DingTalk's 20,000 bytes ("+N more") and carries
every robot's keyword. Answers: 202 ``{"id", "ids", "status"}`` once stored; 202 ``{"status": "ignored", "event",
"reason"}`` for a GitLab event that makes no card (GitLab turns a webhook off after 4xx answers, so an event you
did not mean to send must not fail); 422 naming the field for a body that is not the source's payload.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..adapters import PayloadInvalid
from ..adapters.cards import fit
from ..adapters.events import Event, EventIgnored
from ..adapters.sources import PARSERS
from ..dingtalk.messages import Message
from ..gateway import Fingerprint, Gateway, Rejected
from .body import json_body
from .ding import bearer_token, gateway
from .errors import error
from .ui import record_hook_sample

bp = Blueprint("sources", __name__, url_prefix="/hooks")

GITLAB_TOKEN = "X-Gitlab-Token"  # noqa: S105 (a header name)
GITLAB_EVENT = "X-Gitlab-Event"


@bp.before_request
def _room_for_large_events() -> None:
    limits = gateway().tables.limits   # a GitLab push or merge request can be large
    request.max_content_length = max(limits.max_body_bytes, limits.alert_body_bytes)


@bp.errorhandler(RequestEntityTooLarge)
def _body_too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    return error(413, "too_large", f"the request body is larger than {request.max_content_length} bytes")


@bp.post("/zabbix/<source>")
def zabbix(source: str) -> ResponseReturnValue:
    return _event_hook(source, "zabbix")


@bp.post("/gitlab/<source>")
def gitlab(source: str) -> ResponseReturnValue:
    return _event_hook(source, "gitlab", header=request.headers.get(GITLAB_EVENT))


@bp.post("/jenkins/<source>")
def jenkins(source: str) -> ResponseReturnValue:
    return _event_hook(source, "jenkins")


def _event_hook(source: str, kind: str, *, header: str | None = None) -> ResponseReturnValue:
    gw = gateway()
    name = _authenticated(gw, source, gitlab=kind == "gitlab")
    body = json_body(request)
    try:
        event = PARSERS[kind](body, header)
    except EventIgnored as exc:
        return jsonify({"status": "ignored", "event": exc.event, "reason": exc.reason}), 202
    except PayloadInvalid as exc:
        raise Rejected(422, exc.code, exc.message, exc.field) from None
    record_hook_sample(kind, name, body)
    template = request.args.get("template") or kind
    entry = gw.tables.sources[name]
    labels = event.route_labels()
    robots = list(entry.router.robots_for(labels))
    mobiles = list(dict.fromkeys(entry.mentions.mobiles_for(labels))) if event.firing else []

    def render(shown: int) -> Message:
        data = {**event.card_data(shown), "at_mobiles": mobiles, "source": name}
        return gw.with_keywords(gw.render(template, data), robots, template=template)

    message = fit(render, event.items, too_large=_too_large)
    [accepted] = gw.accept_many(name, [(message, robots)], fingerprints=[_fingerprint(event)],
                                alert=kind == "zabbix")
    first = accepted.messages[0]
    return jsonify({"id": first.id, "ids": accepted.ids, "status": str(first.status)}), 202


def _fingerprint(event: Event) -> Fingerprint:
    """The card is about its event (a Zabbix problem, a pipeline, a merge request, a branch, a build) and says
    its state: a repeat of the same state within the source's window is suppressed."""
    return Fingerprint(identity=_sha256(event.subject()), state=_sha256(event.state()))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _too_large(exc: Exception) -> bool:
    return isinstance(exc, Rejected) and exc.code == "invalid_message"


def _authenticated(gw: Gateway, source: str, *, gitlab: bool) -> str:
    presented = [(t, f) for t, f in ((request.headers.get(GITLAB_TOKEN) if gitlab else None, GITLAB_TOKEN),
                                     (bearer_token(), "token"), (request.args.get("token"), "token")) if t]
    if not presented:
        where = f"set the webhook's Secret token ({GITLAB_TOKEN}), or " if gitlab else ""
        raise Rejected(401, "unauthorized", f"missing token: {where}send Authorization: Bearer <token>, or add "
                       "?token=<token> to the webhook URL", GITLAB_TOKEN if gitlab else "token")
    for token, field in presented:   # each one: a wrong secret is refused even beside a right one
        try:
            name = gw.authenticate(token)
        except Rejected as exc:
            raise Rejected(exc.status, exc.code, exc.message, field) from None
        if name != source:
            raise Rejected(401, "unauthorized", f"this token is not the token of source {source!r}; "
                           "put the token's own source in the URL", field)
    return source

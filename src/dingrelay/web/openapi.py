"""``GET /openapi.json``: the HTTP API as an OpenAPI 3.1 document.

The document is data built once; ``tests/web/test_openapi.py`` keeps it true (every route of the app is described
and every described route exists) and schemathesis fuzzes the running gateway against it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from .. import __version__
from ..delivery.model import MAX_ID, MAX_IDEMPOTENCY_KEY

bp = Blueprint("openapi", __name__)

_JSON = "application/json"
_STR = {"type": "string"}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


_SEND_ERRORS = (400, 401, 413, 415, 422, 503)
_IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}}
#: The token may also come in the body or the query, so the header is optional.
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {}]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "field"], "additionalProperties": False,
            "properties": {"code": _STR, "message": _STR, "field": _NULLABLE_STR}}},
    },
    "Queued": {
        "type": "object", "required": ["id", "ids", "status"],
        "properties": {"id": _STR, "ids": {"type": "array", "items": _STR}, "status": _STR,
                       "duplicate": {"type": "boolean"}},
    },
    "HookQueued": {
        "type": "object", "required": ["status", "ids", "cards"],
        "properties": {
            "status": {"const": "queued"}, "ids": {"type": "array", "items": _STR},
            "cards": {"type": "array", "items": {
                "type": "object", "required": ["robots", "alerts", "ids"],
                "properties": {"robots": {"type": "array", "items": _STR}, "alerts": {"type": "integer"},
                               "ids": {"type": "array", "items": _STR}}}}},
    },
    "Ignored": {
        "type": "object", "required": ["status", "event", "reason"], "additionalProperties": False,
        "properties": {"status": {"const": "ignored"}, "event": _STR, "reason": _STR},
    },
    "TutorialBody": {
        "type": "object", "required": ["title", "content"],
        "properties": {
            "source": {"type": "string", "description": "the source's token (or Authorization: Bearer)"},
            "title": {"type": ["string", "number"], "description": "巡检标题"},
            "content": {"type": ["string", "number"], "description": "巡检内容"},
            "level": {"enum": ["info", "error"], "default": "info"},
            "author": {"type": ["string", "number"], "default": "巡检机器人"},
            "url": {"type": ["string", "number"]},
        },
    },
    "MessageRequest": {
        "type": "object",
        "description": "either `message` (a DingTalk JSON body) or `template` with `data`",
        "properties": {
            "source": _STR,
            "message": {"type": "object", "description": "a DingTalk robot message (PROTOCOL.md §1)"},
            "template": _STR,
            "data": {"type": "object"},
            "robots": {"type": "array", "items": _STR},
            "at": {"type": "object", "properties": {
                "atMobiles": {"type": "array", "items": _STR}, "atUserIds": {"type": "array", "items": _STR},
                "isAtAll": {"type": "boolean"}}},
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "status", "robot", "msgtype", "title", "attempt_count", "attempts", "why", "created_at",
                     "updated_at", "message"],
        "properties": {
            "id": _STR,
            "status": {"enum": ["queued", "sending", "retrying", "delivered", "dead", "suppressed"]},
            "robot": _STR, "source": _NULLABLE_STR, "msgtype": _STR, "title": _STR,
            "attempt_count": {"type": "integer", "description": "attempts since accepted (or requeued)"},
            "attempts": {"type": "array", "items": _ref("Attempt"), "description": "every send attempt, oldest "
                         "first; for a message a digest carried, the digest's"},
            "why": {**_NULLABLE_STR, "description": "suppressed, merged into a digest, or a digest: by which "
                    "message and why"},
            "last_errcode": _NULLABLE_INT, "last_error": _NULLABLE_STR,
            "created_at": {"type": "number"}, "updated_at": {"type": "number"}, "delivered_at": _NULLABLE_NUM,
            "next_attempt_at": _NULLABLE_NUM, "digest_id": _NULLABLE_STR, "duplicate_of": _NULLABLE_STR,
            "duplicates": {"type": "integer"}, "requeued_at": _NULLABLE_NUM, "message": {"type": "object"},
        },
    },
    "Attempt": {
        "type": "object",
        "required": ["started_at", "duration", "http_status", "errcode", "errmsg", "error", "outcome", "digest_id"],
        "additionalProperties": False,
        "properties": {
            "started_at": {"type": "number"}, "duration": _NULLABLE_NUM,
            "http_status": {**_NULLABLE_INT, "description": "null: DingTalk did not answer"},
            "errcode": _NULLABLE_INT, "errmsg": {**_NULLABLE_STR, "description": "DingTalk's errmsg, masked"},
            "error": {**_NULLABLE_STR, "description": "the reason recorded, masked"},
            "outcome": {"enum": ["delivered", "retry", "paused", "dead"]},
            "digest_id": {**_NULLABLE_STR, "description": "the digest this message went out in"},
        },
    },
    "DingAnswer": {
        "type": "object", "required": ["errcode", "errmsg"],
        "properties": {"errcode": {"type": "integer"}, "errmsg": _STR},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": _STR}},
}

RESPONSES: dict[str, Any] = {
    f"E{status}": _json(_ref("Error"), text) for status, text in {
        400: "invalid or too deeply nested JSON", 401: "unknown or missing token",
        403: "a signed callback for another robot or corp (`field` names it)", 404: "no such resource",
        405: "method not allowed", 413: "body too large (with or without Content-Length)", 415: "not JSON",
        422: "a field is wrong (a bad value, too long, or not text: NUL or a lone surrogate); `field` names it",
        503: "the database cannot store or read now; retry later"}.items()
}


def _post(summary: str, body: dict[str, Any], ok: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {_JSON: {"schema": body}}},
                     "responses": ok | _errors(*errors), **extra}}


_SOURCE = {"name": "source", "in": "path", "required": True, "schema": _STR}
_TOKEN_QUERY = {"name": "token", "in": "query", "required": False, "schema": _STR}
_TEMPLATE_QUERY = {"name": "template", "in": "query", "required": False, "schema": _STR}


def _hook(kind: str, summary: str, *, template_required: bool = False) -> dict[str, Any]:
    template = {**_TEMPLATE_QUERY, "required": template_required}
    return _post(summary, {"type": ["object", "array", "string", "number", "boolean", "null"]} if kind == "generic"
                 else {"type": "object"},
                 {"202": _json(_ref("HookQueued"), "every card is stored")}, *_SEND_ERRORS,
                 parameters=[_SOURCE, _TOKEN_QUERY, template], security=_BEARER)


def _event_hook(summary: str, body: dict[str, Any], *, gitlab: bool = False) -> dict[str, Any]:
    queued = _json(_ref("Queued"), "the card is stored")
    if gitlab:
        queued = _json({"oneOf": [_ref("Queued"), _ref("Ignored")]},
                       "the card is stored, or the event makes no card (`ignored`, with the reason)")
    headers = [{"name": "X-Gitlab-Token", "in": "header", "required": False, "schema": _STR},
               {"name": "X-Gitlab-Event", "in": "header", "required": False, "schema": _STR}] if gitlab else []
    return _post(summary, body, {"202": queued}, *_SEND_ERRORS,
                 parameters=[_SOURCE, _TOKEN_QUERY, _TEMPLATE_QUERY, *headers], security=_BEARER)


_ZABBIX_BODY = {"type": "object", "required": ["event_id", "event_name"],
                "description": "the parameters of the dingrelay Zabbix media type (README \"Zabbix\")",
                "properties": {"event_id": {"type": ["string", "integer"]}, "event_name": _STR,
                               "event_value": {"enum": ["0", "1", ""]}, "event_status": _STR,
                               "event_nseverity": _STR, "event_severity": _STR, "host_name": _STR,
                               "event_tags": {"type": ["string", "array"]}}}
_GITLAB_BODY = {"type": "object", "required": ["object_kind"],
                "description": "GitLab's webhook payload: pipeline, merge_request, push or tag_push",
                "properties": {"object_kind": _STR}}
_JENKINS_BODY = {"type": "object", "required": ["job_name", "build_number", "result"],
                 "properties": {"job_name": _STR, "build_number": {"type": "integer", "minimum": 0},
                                "result": {"enum": ["SUCCESS", "FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"]},
                                "duration_ms": {"type": "number", "minimum": 0}, "build_url": _STR,
                                "branch": _STR, "commit": _STR, "triggered_by": _STR, "message": _STR,
                                "changes": {"type": "array", "items": {"type": "object", "properties": {
                                    "commit": _STR, "author": _STR, "message": _STR}}}}}

PATHS: dict[str, Any] = {
    "/ding/send": {
        "get": {"summary": "usage of the tutorial endpoint",
                "responses": {"200": _json({"type": "object"}, "how to call POST /ding/send")}},
        **_post("the tutorial's 巡检 card (green info / red error)", _ref("TutorialBody"),
                {"202": _json(_ref("Queued"), "stored; it will be delivered")}, *_SEND_ERRORS,
                security=_BEARER,
                parameters=[_IDEMPOTENCY_KEY]),
    },
    "/api/v1/messages": _post(
        "any DingTalk message or a named template, to chosen robots", _ref("MessageRequest"),
        {"202": _json(_ref("Queued"), "stored"),
         "200": _json(_ref("Queued"), "this Idempotency-Key was seen within 24 h: the first request's messages")},
        *_SEND_ERRORS, security=_BEARER,
        parameters=[_IDEMPOTENCY_KEY]),
    "/api/v1/messages/{message_id}": {"get": {
        "summary": "a message's status, attempts and body (the owning source's token only)",
        "parameters": [{"name": "message_id", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": f"^[0-9a-f]{{1,{MAX_ID}}}$"}}, _TOKEN_QUERY],
        "security": _BEARER,
        "responses": {"200": _json(_ref("Message"), "the message")} | _errors(401, 404, 503),
    }},
    "/hooks/alertmanager/{source}": _hook("alertmanager", "an Alertmanager webhook (payload version 4)"),
    "/hooks/grafana/{source}": _hook("grafana", "a Grafana unified-alerting webhook"),
    "/hooks/generic/{source}": _hook("generic", "any JSON, rendered by ?template=NAME", template_required=True),
    "/hooks/zabbix/{source}": _event_hook("a Zabbix alert from the dingrelay webhook media type", _ZABBIX_BODY),
    "/hooks/gitlab/{source}": _event_hook("a GitLab webhook: pipeline, merge request or push", _GITLAB_BODY,
                                          gitlab=True),
    "/hooks/jenkins/{source}": _event_hook("a Jenkins build result from a pipeline's post step", _JENKINS_BODY),
    "/robot/send": {"post": {
        "summary": "drop-in for DingTalk's webhook: DingTalk's request, DingTalk's answer",
        "parameters": [{"name": "access_token", "in": "query", "required": True, "schema": _STR},
                       {"name": "timestamp", "in": "query", "required": False, "schema": _STR},
                       {"name": "sign", "in": "query", "required": False, "schema": _STR}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": {"type": "object"}}}},
        "responses": {"200": _json(_ref("DingAnswer"), "errcode 0: queued; otherwise DingTalk's errcode"),
                      "503": _json(_ref("DingAnswer"), "errcode -1 (系统繁忙): storing failed; retry")},
    }},
    "/dingtalk/callback/{bot}": {"post": {
        "summary": "a message a person sent to the robot (DingTalk's HTTP callback, signed)",
        "parameters": [{"name": "bot", "in": "path", "required": True, "schema": _STR},
                       {"name": "timestamp", "in": "header", "required": False, "schema": _STR},
                       {"name": "sign", "in": "header", "required": False, "schema": _STR}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": {"type": "object"}}}},
        "responses": {"200": _json({"type": "object"}, "the reply, or {\"msgtype\": \"empty\"}")}
        | _errors(400, 401, 403, 404, 413, 415, 422, 503),
    }},
    "/healthz": {"get": {"summary": "database reachable, worker state, message counts",
                         "responses": {"200": _json(_ref("Health"), "healthy"),
                                       "503": _json(_ref("Health"), "the database or the worker is down")}}},
    "/-/healthy": {"get": {"summary": "the process is up",
                           "responses": {"200": _json(_ref("Health"), "up")}}},
    "/-/ready": {"get": {"summary": "the database is reachable, the worker beats, the process is not stopping",
                         "responses": {"200": _json(_ref("Health"), "ready"),
                                       "503": _json(_ref("Health"), "not ready; `reason` says why")}}},
    "/metrics": {"get": {
        "summary": "Prometheus metrics (text format); with metrics.token set, that token as a Bearer token",
        "security": [{"bearer": []}, {}],
        "responses": {"200": {"description": "the metrics",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}} | _errors(401),
    }},
    "/openapi.json": {"get": {"summary": "this document",
                              "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "dingrelay", "version": __version__,
                 "description": "A self-hosted DingTalk robot gateway: every error is JSON "
                                "{\"error\": {\"code\", \"message\", \"field\"}} with a 4xx status."},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "responses": RESPONSES,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())

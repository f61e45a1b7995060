"""``/healthz``: is the gateway up and its database reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from .ding import gateway

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    try:
        counts = gateway().store.counts()
    except Exception:  # the database is down: say so, without details that could leak a URL
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok", "messages": counts})

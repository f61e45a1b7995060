"""Health, Prometheus-style: ``/-/healthy`` (the process is up), ``/-/ready`` (send it traffic), ``/healthz``
(the database, message counts and the delivery worker's state).

``/-/ready`` answers 503 with the reasons while the database is unreachable, the process is shutting down, or
the delivery worker this process runs is dead, stopped or has not beaten for a few seconds. ``/healthz`` answers
503 when the database is unreachable or the worker is dead or stopped.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .ding import gateway

bp = Blueprint("health", __name__)

#: An id no message has: reading it is a cheap round trip to the database.
_PROBE_ID = "-"


class Liveness(Protocol):
    """What the process's runtime tells the health checks (:class:`dingrelay.runtime.Runtime`)."""

    def problems(self) -> list[str]: ...
    def worker_state(self) -> dict[str, Any] | None: ...


def _liveness() -> Liveness | None:
    live: Liveness | None = current_app.extensions.get("dingrelay.liveness")
    return live


@bp.get("/-/healthy")
def healthy() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/-/ready")
def ready() -> ResponseReturnValue:
    reasons = []
    try:
        gateway().store.get(_PROBE_ID)
    except Exception:  # say so, without details that could leak a URL
        reasons.append("the database is unreachable")
    live = _liveness()
    if live is not None:
        reasons += live.problems()
    if reasons:
        return jsonify({"status": "not ready", "reason": "; ".join(reasons), "reasons": reasons}), 503
    return jsonify({"status": "ready"})


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    live = _liveness()
    worker = live.worker_state() if live is not None else None
    try:
        counts = gateway().store.counts()
    except Exception:  # the database is down: say so, without details that could leak a URL
        return jsonify({"status": "error", "database": "unreachable", "worker": worker}), 503
    if worker is not None and worker["state"] in ("dead", "stopped"):
        return jsonify({"status": "error", "database": "ok", "messages": counts, "worker": worker}), 503
    return jsonify({"status": "ok", "database": "ok", "messages": counts, "worker": worker})

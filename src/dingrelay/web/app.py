"""The Flask app factory. It takes a ready :class:`~dingrelay.gateway.Gateway`; the composition root builds it."""

from __future__ import annotations

from flask import Flask

from ..gateway import Gateway
from . import api, callback, ding, errors, health, hooks, robot_compat
from .health import Liveness


def create_app(gateway: Gateway, *, liveness: Liveness | None = None) -> Flask:
    app = Flask("dingrelay")
    app.config["MAX_CONTENT_LENGTH"] = gateway.settings.server.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["dingrelay.gateway"] = gateway
    app.extensions["dingrelay.liveness"] = liveness
    errors.register(app)
    app.register_blueprint(ding.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(callback.bp)
    app.register_blueprint(robot_compat.bp)
    app.register_blueprint(hooks.bp)
    return app

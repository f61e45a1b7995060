"""The Flask app factory. It takes a ready :class:`~dingrelay.gateway.Gateway`, and the store's
:class:`~dingrelay.delivery.browse.Dashboard` for the dashboard at ``/ui/``; the composition root builds them."""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from ..chatops.links import CardLinks
from ..delivery.browse import Dashboard
from ..gateway import Gateway
from . import api, callback, ding, errors, health, hooks, metrics, openapi, robot_compat, silence_links, sources, ui
from .fastpath import FastPaths
from .health import Liveness


class _JSON(DefaultJSONProvider):
    """Answers keep Chinese as it is and keys in the order they were written."""

    ensure_ascii = False
    sort_keys = False


def create_app(gateway: Gateway, *, liveness: Liveness | None = None, dashboard: Dashboard | None = None,
               links: CardLinks | None = None, fast_paths: bool = True) -> Flask:
    """The app; with ``dashboard``, also the dashboard's pages at ``/ui/`` (and the hooks keep payload samples);
    with ``links``, the alert cards' silence buttons and their pages at ``/silence/``. ``fast_paths=False``
    leaves every request to Flask (:mod:`.fastpath` answers the hottest ones in front of it)."""
    app = Flask("dingrelay")
    app.json = _JSON(app)
    app.config["MAX_CONTENT_LENGTH"] = gateway.tables.limits.max_body_bytes
    app.extensions["dingrelay.gateway"] = gateway
    app.extensions["dingrelay.liveness"] = liveness
    errors.register(app)
    metrics.register(app)
    app.register_blueprint(ding.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(callback.bp)
    app.register_blueprint(robot_compat.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(sources.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(metrics.bp)
    silence_links.install(app, gateway, links)
    if dashboard is not None:
        ui.install(app, gateway, dashboard)
    if fast_paths:
        app.wsgi_app = FastPaths(app.wsgi_app, gateway,  # type: ignore[method-assign]
                                 max_body_bytes=gateway.tables.limits.max_body_bytes)
    return app

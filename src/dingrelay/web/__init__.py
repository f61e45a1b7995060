"""The HTTP API: the Flask app factory, one blueprint per feature (``ding``, ``api``, ``hooks``, ``robot_compat``,
``callback``, ``health``), the dashboard's pages (``ui``), the one JSON body parser (``body``) and JSON errors
(``errors``); views stay thin and call the gateway, the bots and the dashboard. Flask and werkzeug are imported here
and nowhere else; it may import the gateway, the tables, the bots, the adapters, the delivery queue's errors and the
core, but no settings type (``wsgi``, the server's entry point, only hands the configuration file to the wiring)."""

from .app import create_app

__all__ = ["create_app"]

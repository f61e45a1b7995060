"""Third-party webhook JSON (Alertmanager, Grafana, Zabbix, GitLab, Jenkins) -> typed alerts -> which robots, whom
to @, template data: ``parse_alertmanager``/``parse_grafana`` make an ``AlertGroup`` (raising
:class:`PayloadInvalid`, which the caller answers 422, for anything unusable), ``routing.plan`` turns its alerts
into one card per set of robots, and ``cards.fit`` finds the largest card within DingTalk's 20,000 bytes ("+N
more"). The single-event sources (``sources.PARSERS``: Zabbix, GitLab, Jenkins) make one :class:`~.events.Event`,
one card for the source's robots. It may import the protocol core
``dingrelay.dingtalk`` and pydantic; no Flask, no storage, no templates and no settings (the web layer
authenticates, renders, checks and stores; the wiring builds the routers)."""

from .errors import PayloadInvalid

__all__ = ["PayloadInvalid"]

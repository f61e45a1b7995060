"""Third-party webhook JSON (Alertmanager, Grafana) -> typed alerts -> which robots, whom to @, template data.

The rule: no Flask, no storage, no templates here. An adapter parses a payload into typed objects, raising
:class:`PayloadInvalid` (the caller answers 422) for anything it cannot use, and prepares the data a template
renders. The web layer authenticates, renders, checks and stores.

::

    payload --parse_alertmanager / parse_grafana--> AlertGroup
    AlertGroup --routing.plan(router, mentions)--> [Card(robots, alerts, mobiles)]   one card per set of robots
    Card --cards.fit(render)--> the largest message within DingTalk's 20,000 bytes ("+N more")
"""

from .errors import PayloadInvalid

__all__ = ["PayloadInvalid"]

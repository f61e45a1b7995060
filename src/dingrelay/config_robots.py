"""Which kind a configured robot is: a custom robot (``webhook``) or an app robot (``app`` with
``open_conversation_id`` or ``user_ids``), and the keys that only make sense for one kind. ``dingrelay.config``
calls it once the fields are valid; it imports nothing of ours."""

from __future__ import annotations

from typing import Any


def robot_kind_problems(rs: Any, key: str) -> list[str]:
    """``key.field: message`` for each key of robot settings ``rs`` that does not fit its kind."""
    if rs.app is None:
        if rs.webhook is None:
            return [f"{key}.webhook: is required (or app: for an app robot)"]
        return [f"{key}.{f}: only app robots (app:) send to {what}; remove it" for f, what in
                (("open_conversation_id", "a group by id"), ("user_ids", "users"))
                if getattr(rs, f)]
    found = []
    if rs.webhook is not None:
        found.append(f"{key}.app: a robot is a webhook robot or an app robot; give webhook or app, not both")
    if rs.secret is not None:
        found.append(f"{key}.secret: 加签 is for webhook robots; an app robot signs in with app.client_secret")
    if rs.keywords:
        found.append(f"{key}.keywords: custom keywords (自定义关键词) are for webhook robots; remove them")
    if (rs.open_conversation_id is None) == (not rs.user_ids):
        found.append(f"{key}.open_conversation_id: an app robot sends to a group (open_conversation_id: cid…) "
                     "or to people (user_ids: [staff ids, at most 20]); give exactly one")
    return found


#: The keys of each kind of robot, and those both kinds have.
WEBHOOK_KEYS = ("webhook", "secret", "keywords")
APP_KEYS = ("app", "open_conversation_id", "user_ids")


def robot_shown(dumped: dict[str, Any]) -> dict[str, Any]:
    """A robot's dumped settings without the keys of the other kind (``dingrelay check`` prints them)."""
    other = WEBHOOK_KEYS if dumped.get("app") is not None else APP_KEYS
    return {k: v for k, v in dumped.items() if k not in other}

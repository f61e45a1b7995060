"""What a bot accepts: callbacks meant for it, and replies to sessionWebhooks DingTalk would give.

A callback's signature covers only its timestamp, so its body is the sender's word. When the bot's spec names a
``robot_code`` or ``corp_id``, a message carrying another ``robotCode`` or ``chatbotCorpId`` is :class:`Refused`
(HTTP answers 403; stream mode does not handle it). A reply goes to the message's ``sessionWebhook`` only when one of
the bot's ``session_webhook_prefixes`` admits it (:func:`~dingrelay.dingtalk.callback.session_webhook_allowed`);
otherwise nothing is queued or POSTed, and the refusal is logged with the URL masked.
"""

from __future__ import annotations

from ..dingtalk.callback import IncomingMessage, session_webhook_allowed
from .spec import BotSpec


class Refused(Exception):
    """A verified callback that is not for this bot. ``field``: the body field that says so."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def admit(spec: BotSpec, message: IncomingMessage) -> None:
    """Raise :class:`Refused` when ``message`` names another robot or corp than ``spec`` is configured for."""
    if spec.robot_code is not None and message.robot_code != spec.robot_code:
        raise Refused("robotCode", f"the callback's robotCode {message.robot_code!r} is not bot {spec.name}'s "
                                   f"(bots.{spec.name}.robot_code)")
    if spec.corp_id is not None and message.chatbot_corp_id != spec.corp_id:
        raise Refused("chatbotCorpId", f"the callback's chatbotCorpId {message.chatbot_corp_id!r} is not bot "
                                       f"{spec.name}'s (bots.{spec.name}.corp_id)")


def reply_allowed(spec: BotSpec, message: IncomingMessage) -> bool:
    """May a reply to ``message`` be POSTed to its sessionWebhook?"""
    return session_webhook_allowed(message.session_webhook, spec.session_webhook_prefixes)

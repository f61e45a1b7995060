"""Acting as a person who @s a stream-mode robot: push the message over the app's WebSocket, collect the reply.

::

    chat = say_over_stream(emu, "dingappkey", " ping")
    chat.ack()        # the client's ACK frame
    chat.reply()      # waits for the reply at the message's sessionWebhook (stream replies never come back inline)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .core import Emulator
from .user import SessionReplies, callback_body


@dataclass
class StreamConversation(SessionReplies):
    """One message pushed to a stream client, and where its reply arrives."""

    emulator: Emulator
    client_id: str
    body: dict[str, Any]
    message_id: str
    session_webhook: str = field(repr=False)
    timeout: float = 10.0

    def ack(self, count: int = 1) -> dict[str, Any]:
        """The ``count``-th ACK of this frame (waits)."""
        return self.emulator.stream.wait_for_ack(self.message_id, count, self.timeout)[count - 1]

    def reply(self) -> dict[str, Any]:
        """The robot's first reply through the sessionWebhook (waits)."""
        return self.wait_for_session_reply(1)[0].body

    def push_again(self, *, same_frame: bool = True) -> str:
        """DingTalk pushing the same message again: the same frame id, or a new frame with the same ``msgId``."""
        return self.emulator.stream.push_message(self.client_id, self.body,
                                                 self.message_id if same_frame else None, timeout=self.timeout)


def say_over_stream(emu: Emulator, client_id: str, text: str, *, session_webhook: str | None = None,
                    session_expires_at_ms: int | None = None, msg_id: str | None = None, timeout: float = 10.0,
                    **body_fields: Any) -> StreamConversation:
    """Push ``text`` to the app's stream connection as DingTalk would, with a fresh sessionWebhook on ``emu``
    (or ``session_webhook``, to go on in one conversation). ``body_fields`` go to :func:`callback_body`."""
    now = emu.state.now_ms()
    expires = session_expires_at_ms if session_expires_at_ms is not None else now + 90 * 60 * 1000
    session = session_webhook or emu.create_session(expires)
    body = callback_body(text, session_webhook=session, session_expires_at_ms=expires, now_ms=now, msg_id=msg_id,
                         **body_fields)
    message_id = emu.stream.push_message(client_id, body, timeout=timeout)
    return StreamConversation(emu, client_id, body, message_id, session, timeout)

"""The DingTalk robot protocol core: message models, signing, the robot and stream clients, callback parsing,
errcodes and secret masking. It imports nothing else of dingrelay, and no web, database or template library."""

from .callback import CallbackInvalid, CallbackRejected, IncomingMessage, parse_callback, verify_callback
from .client import Receipt, Robot, RobotClient
from .errors import (
    ApiError,
    ContentRejected,
    DingTalkError,
    IpNotAllowed,
    KeywordMissing,
    MessageInvalid,
    RateLimited,
    RequestInvalid,
    SecurityRejected,
    ServerBusy,
    SessionExpired,
    SignatureRejected,
    TimestampRejected,
    TokenInvalid,
    TooLarge,
    TransportError,
    error_for,
)
from .keywords import check_keywords, satisfies_keywords
from .masking import Secret, WebhookURL, mask_url
from .messages import (
    ActionCard,
    ActionCardButton,
    At,
    FeedCard,
    FeedCardLink,
    Link,
    Markdown,
    Message,
    MultiActionCard,
    Text,
    parse_message,
)

__all__ = [
    "ActionCard", "ActionCardButton", "ApiError", "At", "CallbackInvalid", "CallbackRejected", "ContentRejected",
    "DingTalkError", "FeedCard", "FeedCardLink", "IncomingMessage", "IpNotAllowed", "KeywordMissing", "Link",
    "Markdown", "Message", "MessageInvalid", "MultiActionCard", "RateLimited", "Receipt", "RequestInvalid", "Robot",
    "RobotClient", "Secret", "SecurityRejected", "ServerBusy", "SessionExpired", "SignatureRejected", "Text",
    "TimestampRejected", "TokenInvalid", "TooLarge", "TransportError", "WebhookURL", "check_keywords",
    "error_for", "mask_url", "parse_callback", "parse_message", "satisfies_keywords", "verify_callback",
]

"""What happens to messages people send to a robot: built-in commands, reply rules and Python handlers
(``pipeline``, ``registry``, ``context``), the reply budget, de-duplication and answering after a crash (``service``,
``dedup``), which callbacks it accepts and where replies may go (``admission``), each bot resolved at start into a
:class:`BotSpec` (``spec``). It may import the core ``dingrelay.dingtalk``,
``dingrelay.rendering`` and the delivery queue's model; no web framework (``dingrelay.web.callback`` verifies and
parses the HTTP callback and calls :class:`Bots`), no settings, and SQL only through the storage package."""

from .admission import Refused
from .context import Context
from .pipeline import APOLOGY, Pipeline
from .registry import Handler, HandlersNotLoaded, command, load_handlers
from .service import EMPTY, Bots, UnknownBot
from .spec import BotSpec, ReplyRule

__all__ = ["APOLOGY", "EMPTY", "BotSpec", "Bots", "Context", "Handler", "HandlersNotLoaded", "Pipeline", "Refused",
           "ReplyRule", "UnknownBot", "command", "load_handlers"]

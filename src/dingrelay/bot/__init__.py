"""What happens to messages people send to a robot: built-in commands, reply rules, Python handlers.

No web framework here; ``dingrelay.web.callback`` verifies and parses the HTTP callback and calls :class:`Bots`.
SQLAlchemy only in ``dedup``.
"""

from .context import Context
from .pipeline import APOLOGY, Pipeline
from .registry import Handler, HandlersNotLoaded, command, load_handlers
from .service import EMPTY, Bots, UnknownBot
from .spec import BotSpec, ReplyRule

__all__ = ["APOLOGY", "EMPTY", "BotSpec", "Bots", "Context", "Handler", "HandlersNotLoaded", "Pipeline",
           "ReplyRule", "UnknownBot", "command", "load_handlers"]

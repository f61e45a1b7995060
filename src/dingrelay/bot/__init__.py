"""What happens to messages people send to a robot: built-in commands, reply rules, Python handlers.

No web framework here; ``dingrelay.web.callback`` verifies and parses the HTTP callback and calls :class:`Bots`.
The reply log (``dedup``) lives in the delivery store; no SQL here.
"""

from .pipeline import APOLOGY, Context, Pipeline
from .registry import Handler, HandlersNotLoaded, command, load_handlers
from .service import EMPTY, Bots, UnknownBot

__all__ = ["APOLOGY", "EMPTY", "Bots", "Context", "Handler", "HandlersNotLoaded", "Pipeline", "UnknownBot",
           "command", "load_handlers"]

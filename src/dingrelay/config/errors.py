"""What is wrong with a configuration: each :class:`Problem` names its key; :class:`ConfigError` carries them all;
:func:`problems_from` turns pydantic's validation errors into problems. ``dingrelay.config`` raises it (and
re-exports both); it imports nothing of ours.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Problem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(Exception):
    """The configuration is unusable; :attr:`problems` lists every reason."""

    def __init__(self, problems: list[Problem], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{lines}")


def problems_from(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Each of pydantic's errors for a ``root`` model as a :class:`Problem` naming its key; an unknown key gets the
    closest known one ("did you mean …?") or the keys its section knows."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent_fields = _known_fields(root, loc[:-1])
            close = difflib.get_close_matches(loc[-1], parent_fields, n=1)
            msg = "unknown key" + (f"; did you mean {close[0]}?" if close else
                                   f"; known keys: {', '.join(parent_fields)}" if parent_fields else "")
        elif err["type"] == "missing":
            msg = "is required"
        if not loc:  # cross-reference problems come joined, one "key: message" per line
            out += [Problem(*part.partition(": ")[::2]) for part in msg.split("\n")]
            continue
        out.append(Problem(key, msg))
    return out


def _known_fields(root: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = root
    for part in loc:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            if model is root:
                return []
            continue  # a dict key such as a robot name
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = args[-1] if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel) else ann
    return list(getattr(model, "model_fields", {}))

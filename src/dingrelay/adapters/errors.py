"""The one error an adapter raises: the payload cannot be used. ``field`` is its JSON path (``alerts.0.labels``)."""

from __future__ import annotations

from pydantic import ValidationError


class PayloadInvalid(ValueError):
    """The webhook payload is not what the endpoint takes. ``code`` is ``invalid_payload`` or
    ``unsupported_version``; the message says what to fix."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid_payload") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def from_validation(kind: str, exc: ValidationError) -> PayloadInvalid:
    """The first problem pydantic found, as a :class:`PayloadInvalid` naming its field."""
    err = exc.errors(include_url=False)[0]
    path = ".".join(str(p) for p in err["loc"]) or None
    where = path or "the body"
    if err["type"] == "missing":
        problem = f"{where} is required"
    else:
        problem = f"{where}: {err['msg'].removeprefix('Value error, ')}"
    return PayloadInvalid(f"not a valid {kind} payload: {problem}", field=path)

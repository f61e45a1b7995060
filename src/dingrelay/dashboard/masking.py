"""What the dashboard shows is masked: the values of secret parameters (``access_token=``, ``token=``, ``sign=``,
…) wherever they appear in a text, and every configured token and secret replaced outright.

Unlike :func:`dingrelay.dingtalk.masking.mask_text`, which parses each URL it finds, this works on any text, markdown
and JSON included (a URL inside ``[link](…)`` or a JSON string with ``\\n`` in it), and never drops what it cannot
parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..dingtalk.masking import SECRET_PARAMS, mask_value

MASK = "****"
_SECRET_PARAM = re.compile(r"(?i)(?<![\w-])(" + "|".join(sorted(SECRET_PARAMS)) + r")=([^&#\s\"'<>()\[\]\\]+)")


def mask_params(text: str) -> str:
    """``text`` with the value of every secret query parameter masked (``access_token=abcd****``)."""
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={mask_value(m.group(2))}", text)


def scrub(text: str, known: Iterable[str]) -> str:
    """``text`` with every one of the ``known`` secrets replaced by ``****``."""
    for secret in known:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_all(text: str, known: Iterable[str] = ()) -> str:
    return scrub(mask_params(text), known)

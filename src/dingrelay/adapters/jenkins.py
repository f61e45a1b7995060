"""A Jenkins build result, as a pipeline's ``post {}`` block posts it (README "Jenkins"): plain JSON, no plugin.

::

    {"job_name": "shop/main", "build_number": 42, "result": "FAILURE", "duration_ms": 93000,
     "build_url": "https://ci.example/job/shop/job/main/42/", "branch": "main", "commit": "3f2a9c1…",
     "triggered_by": "Started by GitHub push by alice", "message": "12 tests failed",
     "changes": [{"commit": "3f2a9c1…", "author": "alice", "message": "修复下单超时"}]}

``job_name``, ``build_number`` and ``result`` are required; ``result`` is Jenkins's ``currentBuild.currentResult``
(SUCCESS, FAILURE, UNSTABLE, ABORTED or NOT_BUILT; any case). The rest may be left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator

from .errors import PayloadInvalid, from_validation
from .events import Model, Text, first_line

#: Jenkins's results, in Chinese, with their colour.
RESULTS = {"SUCCESS": ("成功", "#008000"), "FAILURE": ("失败", "#FF0000"), "UNSTABLE": ("不稳定", "#FF8C00"),
           "ABORTED": ("已中止", "#808080"), "NOT_BUILT": ("未构建", "#808080")}


class Change(Model):
    commit: Text = ""
    author: Text = ""
    message: Text = ""


class JenkinsBuild(Model):
    job_name: Text = Field(min_length=1)
    build_number: int = Field(ge=0)
    result: Text
    duration_ms: float | None = Field(default=None, ge=0)
    build_url: Text = ""
    branch: Text = ""
    commit: Text = ""
    triggered_by: Text = ""
    message: Text = ""
    changes: list[Change] = Field(default_factory=list)

    @field_validator("result")
    @classmethod
    def _result(cls, value: str) -> str:
        result = value.strip().upper()
        if result not in RESULTS:
            raise ValueError(f"must be one of {', '.join(RESULTS)} (currentBuild.currentResult), not {value!r}")
        return result

    @property
    def items(self) -> int:
        return len(self.changes)

    @property
    def firing(self) -> bool:
        return self.result in ("FAILURE", "UNSTABLE")

    def route_labels(self) -> dict[str, str]:
        return {"job": self.job_name, "branch": self.branch, "result": self.result}

    def card_data(self, shown: int) -> dict[str, Any]:
        text, color = RESULTS[self.result]
        return {"job_name": self.job_name, "build_number": self.build_number, "result": self.result,
                "result_text": text, "result_color": color,
                "duration": self.duration_ms / 1000 if self.duration_ms is not None else None,
                "build_url": self.build_url, "branch": self.branch, "commit": self.commit,
                "short_commit": self.commit[:8], "triggered_by": self.triggered_by, "message": self.message,
                "changes": [{"commit": c.commit, "short_commit": c.commit[:8], "author": c.author,
                             "title": first_line(c.message)} for c in self.changes[:shown]],
                "more": max(0, len(self.changes) - shown)}

    def subject(self) -> str:
        return f"jenkins:{self.job_name}#{self.build_number}"

    def state(self) -> str:
        return self.result


def parse_jenkins(payload: Any) -> JenkinsBuild:
    """The build in a body a Jenkinsfile posted; :class:`PayloadInvalid` naming the field otherwise."""
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the body must be a JSON object with job_name, build_number and result")
    try:
        return JenkinsBuild.model_validate(payload)
    except ValidationError as exc:
        raise from_validation("Jenkins", exc) from None

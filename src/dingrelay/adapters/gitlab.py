"""GitLab's project (or group) webhooks: Pipeline Hook, Merge Request Hook, Push Hook and Tag Push Hook.

The event is chosen by ``object_kind`` (the ``X-Gitlab-Event`` header, when sent, must agree with it). Field names
are GitLab's own (``object_attributes.status``, ``total_commits_count``, ...); unknown fields are ignored.

Not every event is worth a card; these are :class:`~.events.EventIgnored` (answered 202 ``ignored``, so GitLab
neither retries nor disables the webhook, as it does after 4xx answers):

- pipelines that have not finished: only ``success``, ``failed`` and ``canceled`` pipelines make a card;
- merge request ``update`` events without new commits (a title or label edit), and ``unapproved``/``unapproval``;
- every other event kind (issues, comments, jobs, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError, field_validator

from .errors import PayloadInvalid, from_validation
from .events import EventIgnored, Model, Text, first_line

ZERO_SHA = "0" * 40
#: A merge request card names at most this many labels, and counts the rest.
MAX_LABELS = 20
#: ``X-Gitlab-Event`` -> the ``object_kind`` it carries.
HEADERS = {"Pipeline Hook": "pipeline", "Merge Request Hook": "merge_request", "Push Hook": "push",
           "Tag Push Hook": "tag_push"}
PIPELINE_DONE = {"success": "成功", "failed": "失败", "canceled": "已取消"}
MR_ACTIONS = {"open": "创建了", "reopen": "重新打开了", "close": "关闭了", "merge": "合并了",
              "approved": "审批通过了", "approval": "批准了", "update": "推送了新提交到"}


def _gitlab_time(value: Any) -> Any:
    """GitLab writes ``2016-08-12 15:23:28 UTC`` in pipeline hooks and ISO 8601 elsewhere."""
    if isinstance(value, str) and value.endswith(" UTC"):
        return value.removesuffix(" UTC").replace(" ", "T") + "+00:00"
    return value


class User(Model):
    name: Text = ""
    username: Text = ""

    @property
    def who(self) -> str:
        return self.name or self.username


class Project(Model):
    id: int | None = None
    name: Text = ""
    path_with_namespace: Text = ""
    web_url: Text = ""

    @property
    def title(self) -> str:
        return self.path_with_namespace or self.name


class Author(Model):
    name: Text = ""


class Commit(Model):
    id: Text = ""
    message: Text = ""
    title: Text = ""
    url: Text = ""
    author: Author = Field(default_factory=Author)

    def view(self) -> dict[str, str]:
        return {"id": self.id, "short_id": self.id[:8], "title": self.title or first_line(self.message),
                "url": self.url, "author": self.author.name}


class Build(Model):
    id: int | None = None
    stage: Text = ""
    name: Text = ""
    status: Text = ""
    failure_reason: Text = ""
    allow_failure: bool = False


class PipelineAttributes(Model):
    id: int
    iid: int | None = None
    name: Text = ""
    ref: Text
    tag: bool = False
    sha: Text
    source: Text = ""
    status: Text = Field(min_length=1)
    duration: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    url: Text = ""

    _times = field_validator("created_at", "finished_at", mode="before")(_gitlab_time)


class MergeRequestRef(Model):
    iid: int | None = None
    title: Text = ""
    url: Text = ""


class PipelineEvent(Model):
    object_attributes: PipelineAttributes
    user: User = Field(default_factory=User)
    project: Project
    commit: Commit | None = None
    builds: list[Build] = Field(default_factory=list)
    merge_request: MergeRequestRef | None = None

    @property
    def failed(self) -> list[Build]:
        return [b for b in self.builds if b.status == "failed"]

    @property
    def items(self) -> int:
        return len(self.failed)

    @property
    def firing(self) -> bool:
        return self.object_attributes.status == "failed"

    def route_labels(self) -> dict[str, str]:
        p = self.object_attributes
        return {"kind": "pipeline", "project": self.project.title, "ref": p.ref, "status": p.status}

    def card_data(self, shown: int) -> dict[str, Any]:
        p = self.object_attributes
        url = p.url or (f"{self.project.web_url.rstrip('/')}/-/pipelines/{p.id}" if self.project.web_url else "")
        return {"kind": "pipeline", "project": self.project.title, "project_url": self.project.web_url,
                "user": self.user.who, "id": p.id, "iid": p.iid, "name": p.name, "ref": p.ref, "tag": p.tag,
                "sha": p.sha, "short_sha": p.sha[:8], "status": p.status, "status_text": PIPELINE_DONE[p.status],
                "pipeline_source": p.source, "duration": p.duration, "finished_at": p.finished_at, "url": url,
                "commit": self.commit.view() if self.commit else None,
                "merge_request": self.merge_request.model_dump() if self.merge_request else None,
                "failed_jobs": [b.model_dump() for b in self.failed[:shown]],
                "more": max(0, len(self.failed) - shown)}

    def subject(self) -> str:
        return f"gitlab:pipeline:{self.project.id}:{self.object_attributes.id}"

    def state(self) -> str:
        return self.object_attributes.status


class Label(Model):
    title: Text = ""


class MergeRequestAttributes(Model):
    iid: int
    title: Text = Field(min_length=1)
    action: Text = ""
    state: Text = ""
    source_branch: Text = ""
    target_branch: Text = ""
    url: Text = ""
    description: Text = ""
    draft: bool = False
    oldrev: Text = ""
    detailed_merge_status: Text = ""
    last_commit: Commit | None = None


class MergeRequestEvent(Model):
    object_attributes: MergeRequestAttributes
    user: User = Field(default_factory=User)
    project: Project
    assignees: list[User] = Field(default_factory=list)
    reviewers: list[User] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)

    @property
    def action(self) -> str:
        a = self.object_attributes
        return a.action or {"opened": "open", "closed": "close", "merged": "merge"}.get(a.state, a.state)

    @property
    def items(self) -> int:
        return len(self.labels)

    @property
    def firing(self) -> bool:
        return False

    def route_labels(self) -> dict[str, str]:
        a = self.object_attributes
        return {"kind": "merge_request", "project": self.project.title, "ref": a.target_branch,
                "status": self.action}

    def card_data(self, shown: int) -> dict[str, Any]:
        a = self.object_attributes
        return {"kind": "merge_request", "project": self.project.title, "project_url": self.project.web_url,
                "user": self.user.who, "iid": a.iid, "mr_title": a.title, "action": self.action,
                "action_text": MR_ACTIONS.get(self.action, self.action), "state": a.state,
                "source_branch": a.source_branch, "target_branch": a.target_branch, "url": a.url,
                "description": a.description, "draft": a.draft, "merge_status": a.detailed_merge_status,
                "last_commit": a.last_commit.view() if a.last_commit else None,
                "assignees": [u.who for u in self.assignees], "reviewers": [u.who for u in self.reviewers],
                "labels": [lb.title for lb in self.labels[:min(shown, MAX_LABELS)]],
                "more": max(0, len(self.labels) - min(shown, MAX_LABELS))}

    def subject(self) -> str:
        return f"gitlab:merge_request:{self.project.id}:{self.object_attributes.iid}"

    def state(self) -> str:
        last = self.object_attributes.last_commit
        return f"{self.action}:{last.id if last else ''}"


class PushEvent(Model):
    object_kind: Text
    ref: Text = Field(min_length=1)
    before: Text = ""
    after: Text = Field(min_length=1)
    checkout_sha: Text = ""
    user_name: Text = ""
    user_username: Text = ""
    project: Project
    commits: list[Commit] = Field(default_factory=list)
    total_commits_count: int = Field(default=0, ge=0)

    @property
    def items(self) -> int:
        return len(self.commits)

    @property
    def firing(self) -> bool:
        return False

    def route_labels(self) -> dict[str, str]:
        tag = self.object_kind == "tag_push"
        return {"kind": self.object_kind, "project": self.project.title,
                "ref": self.ref.removeprefix("refs/tags/" if tag else "refs/heads/"),
                "status": "deleted" if self.after == ZERO_SHA else "pushed"}

    def card_data(self, shown: int) -> dict[str, Any]:
        tag = self.object_kind == "tag_push"
        name = self.ref.removeprefix("refs/tags/" if tag else "refs/heads/")
        if self.after == ZERO_SHA:
            change = "deleted"
        elif self.before == ZERO_SHA or not self.before:
            change = "created"
        else:
            change = "pushed"
        total = max(self.total_commits_count, len(self.commits))
        newest_first = list(reversed(self.commits))  # GitLab lists them oldest first
        return {"kind": "tag_push" if tag else "push", "project": self.project.title,
                "project_url": self.project.web_url, "user": self.user_name or self.user_username,
                "ref": self.ref, "name": name, "change": change, "after": self.after, "short_sha": self.after[:8],
                "commits": [c.view() for c in newest_first[:shown]], "total_commits": total,
                "more": max(0, total - min(shown, len(self.commits)))}

    def subject(self) -> str:
        return f"gitlab:{self.object_kind}:{self.project.id}:{self.ref}"

    def state(self) -> str:
        return self.after


GitLabEvent = PipelineEvent | MergeRequestEvent | PushEvent
_MODELS: dict[str, type[PipelineEvent] | type[MergeRequestEvent] | type[PushEvent]] = {
    "pipeline": PipelineEvent, "merge_request": MergeRequestEvent, "push": PushEvent, "tag_push": PushEvent}


def parse_gitlab(payload: Any, header: str | None = None) -> GitLabEvent:
    """The event in a GitLab webhook body (``header``: its ``X-Gitlab-Event``, if any); :class:`PayloadInvalid`
    naming the field, or :class:`EventIgnored` for an event that makes no card."""
    if header and header not in HEADERS and header != "System Hook":
        raise EventIgnored(header, f"{header} events make no card; dingrelay notifies about "
                           f"{', '.join(HEADERS)} (untick the others in the webhook's settings)")
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the body must be a JSON object: GitLab's webhook payload")
    kind = payload.get("object_kind")
    if not isinstance(kind, str) or not kind:
        raise PayloadInvalid("not a valid GitLab payload: object_kind is required (GitLab's webhook payload names "
                             "its event there)", field="object_kind")
    if header in HEADERS and HEADERS[header] != kind:
        raise PayloadInvalid(f"object_kind {kind!r} is not the event of X-Gitlab-Event {header!r} "
                             f"({HEADERS[header]!r})", field="object_kind")
    model = _MODELS.get(kind)
    if model is None:
        raise EventIgnored(kind, f"{kind} events make no card; dingrelay notifies about pipelines, merge "
                           "requests and pushes (untick the others in the webhook's settings)")
    try:
        event = model.model_validate(payload)
    except ValidationError as exc:
        raise from_validation("GitLab", exc) from None
    if isinstance(event, PipelineEvent) and event.object_attributes.status not in PIPELINE_DONE:
        raise EventIgnored("pipeline", f"pipeline status {event.object_attributes.status!r} is not final: cards "
                           f"are for {', '.join(PIPELINE_DONE)} pipelines")
    if isinstance(event, MergeRequestEvent):
        action = event.action
        if action == "update" and not event.object_attributes.oldrev:
            raise EventIgnored("merge_request", "a merge request update without new commits makes no card")
        if action not in MR_ACTIONS:
            raise EventIgnored("merge_request", f"merge request action {action!r} makes no card")
    return event



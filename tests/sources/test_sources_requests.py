"""What the source hooks refuse, ignore and cut: a bad body is a JSON 4xx naming the field; a GitLab webhook needs
the source's token as its Secret token; events that make no card are answered 202 ``ignored``; a huge event is
cut to DingTalk's 20,000 bytes with "+N more"."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import InProcessGateway
from sources_rig import TOKENS, card, fresh, post

from dingrelay.dashboard.source_samples import (
    GITLAB_MERGE_REQUEST,
    GITLAB_PIPELINE,
    GITLAB_PUSH,
    JENKINS_FAILURE,
    ZABBIX_PROBLEM,
)
from dingrelay.dingtalk.messages import MAX_BODY_BYTES, dumps
from dingrelay.emulator import Emulator


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def pipeline(**attributes: Any) -> dict[str, Any]:
    return {**GITLAB_PIPELINE, "object_attributes": {**GITLAB_PIPELINE["object_attributes"], **attributes}}


def merge_request(**attributes: Any) -> dict[str, Any]:
    return {**GITLAB_MERGE_REQUEST,
            "object_attributes": {**GITLAB_MERGE_REQUEST["object_attributes"], **attributes}}


# -- bad bodies ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "body", "field", "says"), [
    pytest.param("zabbix", without(ZABBIX_PROBLEM, "event_id"), "event_id", "event_id is required", id="zabbix-id"),
    pytest.param("zabbix", without(ZABBIX_PROBLEM, "event_name"), "event_name", "required", id="zabbix-name"),
    pytest.param("zabbix", without(without(ZABBIX_PROBLEM, "event_value"), "event_status"), "event_value",
                 "{EVENT.VALUE}", id="zabbix-no-status"),
    pytest.param("zabbix", {**ZABBIX_PROBLEM, "event_value": "PROBLEM"}, "event_value", "0 or 1",
                 id="zabbix-value"),
    pytest.param("zabbix", {**ZABBIX_PROBLEM, "event_nseverity": "9"}, "event_nseverity", "0 to 5",
                 id="zabbix-nseverity"),
    pytest.param("zabbix", {**ZABBIX_PROBLEM, "host_name": {"name": "web-01"}}, "host_name", "string",
                 id="zabbix-object"),
    pytest.param("zabbix", {**ZABBIX_PROBLEM, "event_tags": [{"value": "x"}]}, "event_tags.0.tag", "required",
                 id="zabbix-tag"),
    pytest.param("gitlab", without(GITLAB_PUSH, "object_kind"), "object_kind", "object_kind is required",
                 id="gitlab-kind"),
    pytest.param("gitlab", without(GITLAB_PIPELINE, "project"), "project", "project is required",
                 id="gitlab-project"),
    pytest.param("gitlab", pipeline(id="thirty-one"), "object_attributes.id", "integer", id="gitlab-pipeline-id"),
    pytest.param("gitlab", {**GITLAB_PIPELINE, "builds": {"id": 1}}, "builds", "list", id="gitlab-builds"),
    pytest.param("gitlab", merge_request(title=""), "object_attributes.title", "at least 1", id="gitlab-mr-title"),
    pytest.param("gitlab", without(GITLAB_PUSH, "after"), "after", "after is required", id="gitlab-push-after"),
    pytest.param("gitlab", {**GITLAB_PUSH, "total_commits_count": -1}, "total_commits_count", "greater than",
                 id="gitlab-push-count"),
    pytest.param("jenkins", without(JENKINS_FAILURE, "job_name"), "job_name", "job_name is required",
                 id="jenkins-job"),
    pytest.param("jenkins", {**JENKINS_FAILURE, "build_number": "latest"}, "build_number", "integer",
                 id="jenkins-number"),
    pytest.param("jenkins", {**JENKINS_FAILURE, "result": "BROKEN"}, "result", "SUCCESS, FAILURE",
                 id="jenkins-result"),
    pytest.param("jenkins", {**JENKINS_FAILURE, "duration_ms": -5}, "duration_ms", "greater than",
                 id="jenkins-duration"),
    pytest.param("jenkins", {**JENKINS_FAILURE, "changes": [{"message": ["x"]}]}, "changes.0.message", "string",
                 id="jenkins-change"),
])
def test_a_body_that_is_not_the_sources_payload_is_a_422_naming_the_field(
        gateway: InProcessGateway, emu: Emulator, kind: str, body: Any, field: str | None, says: str) -> None:
    r = post(gateway, kind, fresh(body) if kind == "zabbix" and isinstance(body, dict) and "event_id" in body
             else body)

    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_payload" and err["field"] == field and says in err["message"], err
    assert emu.messages() == []


def test_a_gitlab_event_header_disagreeing_with_the_body_is_a_422(gateway: InProcessGateway, emu: Emulator) -> None:
    r = gateway.http.post("/hooks/gitlab/gitlab", json=GITLAB_PUSH,
                          headers={"X-Gitlab-Token": TOKENS["gitlab"], "X-Gitlab-Event": "Pipeline Hook"})

    assert r.status_code == 422
    assert r.json()["error"]["field"] == "object_kind" and "Pipeline Hook" in r.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["zabbix", "gitlab", "jenkins"])
@pytest.mark.parametrize("raw", [b'{"event_id": 1, "event_na', b'[{"event_id": 1}]'], ids=["truncated", "array"])
def test_a_body_that_is_not_a_json_object_is_a_400(gateway: InProcessGateway, kind: str, raw: bytes) -> None:
    r = gateway.http.post(f"/hooks/{kind}/{kind}", content=raw,
                          headers={"Authorization": f"Bearer {TOKENS[kind]}", "Content-Type": "application/json"})

    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


# -- tokens --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "query", "field"), [
    pytest.param({}, {}, "X-Gitlab-Token", id="none"),
    pytest.param({"X-Gitlab-Token": "gitlab-source-tokex"}, {}, "X-Gitlab-Token", id="wrong-secret"),
    pytest.param({"X-Gitlab-Token": TOKENS["jenkins"]}, {}, "X-Gitlab-Token", id="another-sources-token"),
    pytest.param({"X-Gitlab-Token": "wrong"}, {"token": TOKENS["gitlab"]}, "X-Gitlab-Token",
                 id="wrong-secret-beside-a-right-url-token"),
    pytest.param({"X-Gitlab-Token": TOKENS["gitlab"]}, {"token": "wrong"}, "token",
                 id="right-secret-beside-a-wrong-url-token"),
])
def test_a_gitlab_webhook_without_the_sources_secret_token_is_refused(
        gateway: InProcessGateway, emu: Emulator, headers: dict[str, str], query: dict[str, str],
        field: str) -> None:
    r = gateway.http.post("/hooks/gitlab/gitlab", json=GITLAB_PUSH, params=query,
                          headers={"X-Gitlab-Event": "Push Hook", **headers})

    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized" and r.json()["error"]["field"] == field
    assert TOKENS["gitlab"] not in r.text
    assert emu.messages() == []


@pytest.mark.parametrize("how", ["secret-token", "bearer", "url-token"])
def test_a_gitlab_webhook_may_carry_the_token_as_secret_token_bearer_or_url(gateway: InProcessGateway,
                                                                            emu: Emulator, how: str) -> None:
    token = TOKENS["gitlab"]
    headers = {"X-Gitlab-Event": "Push Hook", **({"X-Gitlab-Token": token} if how == "secret-token" else {}),
               **({"Authorization": f"Bearer {token}"} if how == "bearer" else {})}
    params = {"token": token} if how == "url-token" else {}

    r = gateway.http.post("/hooks/gitlab/gitlab", json=GITLAB_PUSH, headers=headers, params=params)

    assert r.status_code == 202, r.text
    emu.wait_for(1, robot="dev", timeout=10)


@pytest.mark.parametrize("kind", ["zabbix", "jenkins"])
def test_zabbix_and_jenkins_need_the_sources_token(gateway: InProcessGateway, emu: Emulator, kind: str) -> None:
    body = fresh(ZABBIX_PROBLEM) if kind == "zabbix" else JENKINS_FAILURE
    missing = gateway.http.post(f"/hooks/{kind}/{kind}", json=body)
    wrong = gateway.http.post(f"/hooks/{kind}/{kind}", json=body, headers={"Authorization": "Bearer nope"})
    elsewhere = gateway.http.post(f"/hooks/{kind}/{kind}", json=body,
                                  headers={"Authorization": f"Bearer {TOKENS['gitlab']}"})

    assert [r.status_code for r in (missing, wrong, elsewhere)] == [401, 401, 401]
    assert emu.messages() == []


# -- ignored events ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "body", "event"), [
    pytest.param("Issue Hook", {"object_kind": "issue", "object_attributes": {"id": 1}}, "Issue Hook", id="issue"),
    pytest.param(None, {"object_kind": "note"}, "note", id="comment-without-header"),
    pytest.param("Pipeline Hook", pipeline(status="running"), "pipeline", id="pipeline-running"),
    pytest.param("Merge Request Hook", merge_request(action="update"), "merge_request", id="mr-edited"),
    pytest.param("Merge Request Hook", merge_request(action="unapproval"), "merge_request", id="mr-unapproval"),
])
def test_events_that_make_no_card_are_answered_202_ignored_with_the_reason(
        gateway: InProcessGateway, emu: Emulator, header: str | None, body: dict[str, Any], event: str) -> None:
    headers = {"X-Gitlab-Token": TOKENS["gitlab"], **({"X-Gitlab-Event": header} if header else {})}

    r = gateway.http.post("/hooks/gitlab/gitlab", json=body, headers=headers)

    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["status"] == "ignored" and answer["event"] == event and answer["reason"]
    assert emu.messages() == []


def test_a_merge_request_update_with_new_commits_makes_a_card(gateway: InProcessGateway, emu: Emulator) -> None:
    r = post(gateway, "gitlab", merge_request(action="update", oldrev="95790bf891e76fee5e1747ab589903a6a1f80f22"))

    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert "推送了新提交到合并请求 !12" in card(emu.wait_for(1, robot="dev", timeout=10)[0])[0]


@pytest.mark.parametrize(("before", "after", "says"), [
    ("0" * 40, GITLAB_PUSH["after"], "新建了分支 main"),
    (GITLAB_PUSH["after"], "0" * 40, "删除了分支 main"),
])
def test_a_push_that_creates_or_deletes_a_branch_says_so(gateway: InProcessGateway, emu: Emulator, before: str,
                                                         after: str, says: str) -> None:
    body = {**GITLAB_PUSH, "before": before, "after": after, **({"commits": [], "total_commits_count": 0}
                                                               if after == "0" * 40 else {})}
    assert post(gateway, "gitlab", body).status_code == 202

    assert says in card(emu.wait_for(1, robot="dev", timeout=10)[0])[0]


def test_a_tag_push_names_the_tag(gateway: InProcessGateway, emu: Emulator) -> None:
    body = {**GITLAB_PUSH, "object_kind": "tag_push", "event_name": "tag_push", "ref": "refs/tags/v1.2.0",
            "before": "0" * 40, "commits": [], "total_commits_count": 0}

    assert post(gateway, "gitlab", body).status_code == 202

    assert "新建了标签 v1.2.0" in card(emu.wait_for(1, robot="dev", timeout=10)[0])[0]


# -- huge events ---------------------------------------------------------------------------------------------------

LONG = "很长的提交说明" * 400   # 8,400 bytes


def huge(kind: str) -> dict[str, Any]:
    if kind == "zabbix":
        tags = [{"tag": f"tag{i}", "value": LONG[:300]} for i in range(400)]
        return fresh({**ZABBIX_PROBLEM, "event_name": LONG, "event_update_message": LONG, "event_tags": tags})
    if kind == "gitlab-push":
        commits = [{**GITLAB_PUSH["commits"][0], "id": f"{i:040x}", "title": LONG, "message": LONG,
                    "author": {"name": LONG}} for i in range(20)]
        return {**GITLAB_PUSH, "commits": commits, "total_commits_count": 3000}
    if kind == "gitlab-pipeline":
        builds = [{"id": i, "stage": LONG[:300], "name": f"job{i}", "status": "failed",
                   "failure_reason": LONG[:300]} for i in range(300)]
        return {**pipeline(name=LONG), "builds": builds}
    if kind == "gitlab-merge-request":
        labels = [{"title": f"label{i}-{LONG[:200]}"} for i in range(300)]
        return {**merge_request(description=LONG * 3, title=LONG), "labels": labels,
                "assignees": [{"name": f"人{i}"} for i in range(300)]}
    changes = [{"commit": f"{i:040x}", "author": LONG[:100], "message": LONG[:1000]} for i in range(200)]
    return {**JENKINS_FAILURE, "job_name": LONG, "message": LONG, "changes": changes}


@pytest.mark.parametrize("kind", ["zabbix", "gitlab-push", "gitlab-pipeline", "gitlab-merge-request", "jenkins"])
def test_a_huge_event_is_cut_to_20000_bytes_saying_how_many_more(gateway: InProcessGateway, emu: Emulator,
                                                                 kind: str) -> None:
    source = kind.split("-")[0]

    r = post(gateway, source, huge(kind))

    assert r.status_code == 202, r.text
    [received] = emu.wait_for(1, robot="ops" if source == "zabbix" else "dev", timeout=10)
    assert len(dumps(received.body)) <= MAX_BODY_BYTES
    title, text = card(received)
    assert "more" in text and len(title.encode()) <= 400

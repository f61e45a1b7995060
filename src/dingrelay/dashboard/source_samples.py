"""Built-in sample bodies of the single-event sources, shaped as their senders post them: the dingrelay Zabbix media
type (a problem and its recovery), GitLab's webhooks (a failed pipeline, a merge request opened, a push; GitLab's
own field names, after the examples in its webhook documentation) and a Jenkinsfile's ``post {}`` step."""

from __future__ import annotations

from typing import Any

_PROJECT = {"id": 15, "name": "shop", "description": "", "web_url": "https://gitlab.example.com/team/shop",
            "avatar_url": None, "git_ssh_url": "git@gitlab.example.com:team/shop.git",
            "git_http_url": "https://gitlab.example.com/team/shop.git", "namespace": "team", "visibility_level": 0,
            "path_with_namespace": "team/shop", "default_branch": "main"}
_USER = {"id": 4, "name": "张三", "username": "zhangsan", "avatar_url": None, "email": "[REDACTED]"}
_SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
_SHA2 = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


def _commit(sha: str, message: str, author: str, stamp: str) -> dict[str, Any]:
    return {"id": sha, "message": message, "title": message.split("\n", 1)[0], "timestamp": stamp,
            "url": f"https://gitlab.example.com/team/shop/-/commit/{sha}",
            "author": {"name": author, "email": "[REDACTED]"}, "added": [], "modified": ["app/order.py"],
            "removed": []}


def _build(ident: int, stage: str, name: str, status: str, reason: str | None = None) -> dict[str, Any]:
    return {"id": ident, "stage": stage, "name": name, "status": status, "created_at": "2024-05-01 02:00:00 UTC",
            "started_at": "2024-05-01 02:00:10 UTC", "finished_at": "2024-05-01 02:03:01 UTC", "duration": 171.2,
            "queued_duration": 3.1, "failure_reason": reason, "when": "on_success", "manual": False,
            "allow_failure": False, "user": _USER, "runner": None, "artifacts_file": {"filename": None, "size": None},
            "environment": None}


ZABBIX_PROBLEM: dict[str, Any] = {
    "event_id": "31337", "event_name": "web-01 上 CPU 使用率超过 90%", "event_value": "1", "event_status": "PROBLEM",
    "event_update_status": "0", "event_severity": "High", "event_nseverity": "4", "event_source": "0",
    "event_date": "2024.05.01", "event_time": "10:00:00", "event_recovery_date": "", "event_recovery_time": "",
    "event_duration": "5m 12s", "event_opdata": "当前值：97.3 %",
    "event_tags": [{"tag": "service", "value": "shop"}, {"tag": "env", "value": "prod"}],
    "event_update_action": "", "event_update_message": "", "event_update_user": "",
    "host_name": "web-01", "host_ip": "10.0.0.11", "item_name": "CPU utilization", "item_value": "97.3 %",
    "trigger_id": "20512", "trigger_url": "https://wiki.example.com/runbook/cpu",
    "zabbix_url": "https://zabbix.example.com",
}
ZABBIX_RECOVERY: dict[str, Any] = {
    **ZABBIX_PROBLEM, "event_value": "0", "event_status": "RESOLVED", "event_recovery_date": "2024.05.01",
    "event_recovery_time": "10:20:31", "event_duration": "20m 31s", "item_value": "35.2 %",
}

GITLAB_PIPELINE: dict[str, Any] = {
    "object_kind": "pipeline",
    "object_attributes": {
        "id": 31, "iid": 3, "name": "Pipeline for branch: main", "ref": "main", "tag": False, "sha": _SHA,
        "before_sha": _SHA, "source": "push", "status": "failed", "detailed_status": "failed",
        "stages": ["build", "test", "deploy"], "created_at": "2024-05-01 02:00:00 UTC",
        "finished_at": "2024-05-01 02:03:01 UTC", "duration": 181, "queued_duration": 3, "variables": [],
        "url": "https://gitlab.example.com/team/shop/-/pipelines/31"},
    "merge_request": None,
    "user": _USER,
    "project": {k: _PROJECT[k] for k in ("id", "name", "description", "web_url", "avatar_url", "git_ssh_url",
                                         "git_http_url", "namespace", "visibility_level", "path_with_namespace",
                                         "default_branch")},
    "commit": {"id": _SHA, "message": "修复下单超时\n\n把支付回调的超时从 3s 调到 10s", "title": "修复下单超时",
               "timestamp": "2024-05-01T09:59:00+08:00",
               "url": f"https://gitlab.example.com/team/shop/-/commit/{_SHA}",
               "author": {"name": "张三", "email": "[REDACTED]"}},
    "builds": [_build(380, "deploy", "production", "skipped"), _build(377, "test", "unit", "failed", "script_failure"),
               _build(378, "test", "lint", "success"), _build(376, "build", "image", "success")],
}
GITLAB_MERGE_REQUEST: dict[str, Any] = {
    "object_kind": "merge_request", "event_type": "merge_request", "user": _USER, "project": _PROJECT,
    "repository": {"name": "shop", "url": _PROJECT["git_ssh_url"], "description": "",
                   "homepage": _PROJECT["web_url"]},
    "object_attributes": {
        "id": 99, "iid": 12, "target_branch": "main", "source_branch": "fix/order-timeout", "source_project_id": 15,
        "author_id": 4, "assignee_ids": [6], "reviewer_ids": [6], "title": "修复下单超时",
        "created_at": "2024-05-01T02:10:00Z", "updated_at": "2024-05-01T02:10:00Z", "state": "opened",
        "blocking_discussions_resolved": True, "work_in_progress": False, "draft": False,
        "merge_status": "unchecked", "detailed_merge_status": "mergeable", "target_project_id": 15,
        "description": "支付回调偶尔超过 3s，下单失败。\n\n- 超时调到 10s\n- 加了重试", "url":
        "https://gitlab.example.com/team/shop/-/merge_requests/12",
        "last_commit": {"id": _SHA, "message": "修复下单超时", "title": "修复下单超时",
                        "timestamp": "2024-05-01T09:59:00+08:00",
                        "url": f"https://gitlab.example.com/team/shop/-/commit/{_SHA}",
                        "author": {"name": "张三", "email": "[REDACTED]"}},
        "labels": [{"id": 206, "title": "bug", "color": "#d9534f", "project_id": 15, "type": "ProjectLabel"}],
        "action": "open"},
    "labels": [{"id": 206, "title": "bug", "color": "#d9534f", "project_id": 15, "type": "ProjectLabel"}],
    "changes": {"state_id": {"previous": None, "current": 1}},
    "assignees": [{"id": 6, "name": "李四", "username": "lisi", "avatar_url": None}],
    "reviewers": [{"id": 6, "name": "李四", "username": "lisi", "avatar_url": None}],
}
GITLAB_PUSH: dict[str, Any] = {
    "object_kind": "push", "event_name": "push", "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after": _SHA, "ref": "refs/heads/main", "ref_protected": True, "checkout_sha": _SHA, "user_id": 4,
    "user_name": "张三", "user_username": "zhangsan", "user_email": "", "user_avatar": None, "project_id": 15,
    "project": {**_PROJECT, "homepage": _PROJECT["web_url"]},
    "repository": {"name": "shop", "url": _PROJECT["git_ssh_url"], "description": "", "homepage": _PROJECT["web_url"],
                   "git_http_url": _PROJECT["git_http_url"], "git_ssh_url": _PROJECT["git_ssh_url"],
                   "visibility_level": 0},
    "commits": [_commit(_SHA2, "加了支付回调重试", "李四",
                        "2024-05-01T09:50:00+08:00"),
                _commit(_SHA, "修复下单超时\n\n把支付回调的超时从 3s 调到 10s", "张三", "2024-05-01T09:59:00+08:00")],
    "total_commits_count": 2,
}

JENKINS_FAILURE: dict[str, Any] = {
    "job_name": "shop/main", "build_number": 42, "result": "FAILURE", "duration_ms": 93512,
    "build_url": "https://jenkins.example.com/job/shop/job/main/42/", "branch": "main", "commit": _SHA,
    "triggered_by": "Started by GitLab push by 张三", "message": "单元测试失败 3 个",
    "changes": [{"commit": _SHA, "author": "张三", "message": "修复下单超时"},
                {"commit": _SHA2, "author": "李四", "message": "加了支付回调重试"}],
}
JENKINS_SUCCESS: dict[str, Any] = {
    "job_name": "shop/main", "build_number": 43, "result": "SUCCESS", "duration_ms": 88020,
    "build_url": "https://jenkins.example.com/job/shop/job/main/43/", "branch": "main", "commit": _SHA,
    "triggered_by": "Started by user 张三", "changes": [],
}

#: (key, label, kind, body) of each built-in sample, for :data:`dingrelay.dashboard.samples.BUILTIN`.
SOURCE_SAMPLES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("zabbix-problem", "内置：Zabbix 问题（dingrelay 媒体类型）", "zabbix", ZABBIX_PROBLEM),
    ("zabbix-recovery", "内置：Zabbix 恢复", "zabbix", ZABBIX_RECOVERY),
    ("gitlab-pipeline", "内置：GitLab 流水线失败（Pipeline Hook）", "gitlab", GITLAB_PIPELINE),
    ("gitlab-merge-request", "内置：GitLab 合并请求（Merge Request Hook）", "gitlab", GITLAB_MERGE_REQUEST),
    ("gitlab-push", "内置：GitLab 推送（Push Hook）", "gitlab", GITLAB_PUSH),
    ("jenkins-failure", "内置：Jenkins 构建失败", "jenkins", JENKINS_FAILURE),
    ("jenkins-success", "内置：Jenkins 构建成功", "jenkins", JENKINS_SUCCESS),
)

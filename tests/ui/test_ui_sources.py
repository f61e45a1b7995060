"""The template page offers the Zabbix, GitLab and Jenkins samples and previews them as their hooks render them;
what those hooks receive is kept, masked, and previewed the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from ui_rig import HEIAN_TOKEN, Rig, sign_in

from dingrelay.dashboard.source_samples import JENKINS_FAILURE


@pytest.fixture
def ui(sqlite_rig: Rig) -> Iterator[FlaskClient]:
    client = sqlite_rig.client()
    assert sign_in(client).status_code == 303
    yield client


def page(client: FlaskClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


@pytest.mark.parametrize(("key", "says"), [
    ("zabbix-problem", "Zabbix 告警 问题"), ("zabbix-recovery", "Zabbix 告警 已恢复"),
    ("gitlab-pipeline", "GitLab 流水线失败"), ("gitlab-merge-request", "GitLab 合并请求"),
    ("gitlab-push", "推送到分支 main"), ("jenkins-failure", "Jenkins 构建失败"),
    ("jenkins-success", "Jenkins 构建成功"),
])
def test_each_source_sample_is_offered_and_previewed_with_its_builtin_template(ui: FlaskClient, key: str,
                                                                               says: str) -> None:
    listed = page(ui, "/ui/templates")
    assert f'<option value="builtin:{key}"' in listed

    shown = page(ui, f"/ui/templates?sample=builtin:{key}")

    assert says in shown and "渲染失败" not in shown
    sizes = [int(n) for n in re.findall(r"(\d+) / 20000 字节", shown)]
    assert len(sizes) == 1 and 0 < sizes[0] <= 20000


def test_what_the_jenkins_hook_received_is_kept_masked_and_previewed(sqlite_rig: Rig, ui: FlaskClient) -> None:
    body = {**JENKINS_FAILURE, "build_url": f"https://jenkins.example.com/job/shop/42/?token={HEIAN_TOKEN}"}
    r = sqlite_rig.client().post("/hooks/jenkins/heian", json=body, headers={"Authorization": f"Bearer {HEIAN_TOKEN}"})
    assert r.status_code == 202, r.get_data(as_text=True)

    [kept] = sqlite_rig.services.store.dashboard.samples()
    assert (kept.hook, kept.source) == ("jenkins", "heian")
    shown = page(ui, f"/ui/templates?sample=received:{kept.id}")
    assert "Jenkins 构建失败" in shown and "shop/main #42" in shown and HEIAN_TOKEN not in shown

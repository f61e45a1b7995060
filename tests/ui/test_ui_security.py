"""Signing in and the dashboard's guards, through Flask's test client: redirects without a session, CSRF on every
POST, the login throttle (injected clock), the session cookie, the Content-Security-Policy, no secret on any page,
and what /ui/ says with no users."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient
from gateway_harness import emulator_for
from ui_rig import AM_TOKEN, HEIAN_TOKEN, PASSWORD, USER, Rig, csrf, make_rig, password_hash, robots, sign_in

from dingrelay.config import load_settings
from dingrelay.dashboard.passwords import hash_password
from dingrelay.dashboard.throttle import Throttle
from dingrelay.emulator import Fault
from dingrelay.web import create_app
from dingrelay.web.ui.security import CSP
from dingrelay.wiring import build

PAGES = ["/ui/", "/ui/messages", "/ui/messages?status=dead", "/ui/templates", "/ui/audit",
         "/ui/templates?sample=builtin:alertmanager"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dead_message(rig: Rig) -> str:
    """A message DingTalk refused for good."""
    rig.emulator.inject(Fault(kind="errcode", errcode=430102, errmsg="含有不合适的文本", robot="ops", count=1))
    r = rig.app.test_client().post("/ding/send", json={"source": HEIAN_TOKEN, "title": "t", "content": "x"})
    rig.deliver()
    message_id = str(r.json["id"])  # type: ignore[index]
    assert rig.services.store.get(message_id).status == "dead"  # type: ignore[union-attr]
    return message_id


@pytest.mark.parametrize("path", [*PAGES, "/ui/messages/0123456789abcdef0123"])
def test_a_page_without_a_session_redirects_to_the_login_page_and_back(sqlite_rig: Rig, path: str) -> None:
    r = sqlite_rig.client().get(path)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/ui/login?next=/ui/")
    client = sqlite_rig.client()
    client.get(path)
    page = client.get(r.headers["Location"])
    signed = client.post(r.headers["Location"], data={"username": USER, "password": PASSWORD,
                                                      "csrf_token": csrf(page.get_data(as_text=True))})
    assert (signed.status_code, signed.headers["Location"]) == (303, path)


def test_a_post_without_a_session_changes_nothing_and_goes_to_the_login_page(sqlite_rig: Rig) -> None:
    message_id = dead_message(sqlite_rig)
    client = sqlite_rig.client()
    token = csrf(client.get("/ui/login").get_data(as_text=True))  # a valid token, but nobody signed in
    r = client.post(f"/ui/messages/{message_id}/requeue", data={"csrf_token": token})
    assert (r.status_code, r.headers["Location"]) == (303, "/ui/login")
    assert sqlite_rig.services.store.get(message_id).status == "dead"  # type: ignore[union-attr]


@pytest.mark.parametrize("token", [None, "", "not-the-sessions-token"])
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(rig: Rig, token: str | None) -> None:
    message_id = dead_message(rig)
    client = rig.client()
    assert sign_in(client).status_code == 303
    data = {} if token is None else {"csrf_token": token}
    r = client.post(f"/ui/messages/{message_id}/requeue", data=data)
    assert r.status_code == 403
    assert "CSRF" in r.get_data(as_text=True)
    assert rig.services.store.get(message_id).status == "dead"  # type: ignore[union-attr]
    assert rig.services.store.dashboard.audit_log() == []
    page = client.get(f"/ui/messages/{message_id}").get_data(as_text=True)
    ok = client.post(f"/ui/messages/{message_id}/requeue", data={"csrf_token": csrf(page)})
    assert ok.status_code == 303 and rig.services.store.get(message_id).status == "queued"  # type: ignore[union-attr]


def test_the_login_form_itself_needs_the_csrf_token(sqlite_rig: Rig) -> None:
    client = sqlite_rig.client()
    client.get("/ui/login")
    r = client.post("/ui/login", data={"username": USER, "password": PASSWORD})
    assert r.status_code == 403
    assert client.get("/ui/").status_code == 302


def test_five_wrong_passwords_throttle_the_login_until_the_lockout_ends(sqlite_rig: Rig) -> None:
    clock = Clock()
    sqlite_rig.app.extensions["dingrelay.ui"].throttle = Throttle(clock=clock)
    client = sqlite_rig.client()
    for _ in range(5):
        assert sign_in(client, password="wrong password").status_code == 401
    refused = sign_in(client)                                   # the right password, refused all the same
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    assert client.get("/ui/").status_code == 302
    assert sign_in(client, username="someone-else", password="x").status_code == 401  # per username
    clock.now += 299
    assert sign_in(client).status_code == 429
    clock.now += 2
    assert sign_in(client).status_code == 303
    assert client.get("/ui/").status_code == 200


def test_failures_spread_beyond_the_window_do_not_throttle(sqlite_rig: Rig) -> None:
    clock = Clock()
    sqlite_rig.app.extensions["dingrelay.ui"].throttle = Throttle(clock=clock)
    client = sqlite_rig.client()
    for _ in range(8):
        assert sign_in(client, password="wrong password").status_code == 401
        clock.now += 80                                          # any 5 failures span more than 5 minutes
    assert sign_in(client).status_code == 303


def test_a_wrong_username_is_refused_like_a_wrong_password(sqlite_rig: Rig) -> None:
    r = sign_in(sqlite_rig.client(), username="nobody")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_the_session_cookie_is_httponly_samesite_strict_and_scoped_to_the_dashboard(sqlite_rig: Rig) -> None:
    r = sign_in(sqlite_rig.client())
    [cookie] = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("dingrelay_ui=")]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes
    assert "SameSite=Strict" in cookie and "Path=/ui" in cookie


def test_the_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    specs = robots()
    emu = emulator_for(specs)
    with emu.serve(host="127.0.0.1", port=0) as server:
        rig = make_rig(tmp_path, emu, server.url, specs, f"sqlite:///{tmp_path / 'ui.db'}",
                       server={"public_url": "https://relay.example.com"})
        try:
            r = sign_in(rig.client())
        finally:
            rig.close()
    [cookie] = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("dingrelay_ui=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_signing_out_ends_the_session(sqlite_rig: Rig) -> None:
    client = sqlite_rig.client()
    sign_in(client)
    page = client.get("/ui/").get_data(as_text=True)
    assert client.post("/ui/logout", data={"csrf_token": csrf(page)}).status_code == 303
    assert client.get("/ui/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/ui/", "https://evil.example/", "/api/v1/messages", "/ui\\x"])
def test_after_signing_in_only_a_dashboard_page_is_a_destination(sqlite_rig: Rig, target: str) -> None:
    client = sqlite_rig.client()
    token = csrf(client.get("/ui/login").get_data(as_text=True))
    r = client.post("/ui/login", data={"username": USER, "password": PASSWORD, "csrf_token": token, "next": target})
    assert (r.status_code, r.headers["Location"]) == (303, "/ui/")


@pytest.fixture
def signed_in(sqlite_rig: Rig) -> Iterator[FlaskClient]:
    client = sqlite_rig.client()
    sign_in(client)
    yield client


@pytest.mark.parametrize("path", [*PAGES, "/ui/login", "/ui/static/ui.css", "/ui/messages/nope", "/ui"])
def test_every_page_has_the_content_security_policy(sqlite_rig: Rig, signed_in: FlaskClient, path: str) -> None:
    for client in (signed_in, sqlite_rig.client()):
        r = client.get(path)
        r.close()  # the style sheet is a file
        assert r.headers["Content-Security-Policy"] == CSP
        assert "script-src" not in CSP and "unsafe-inline" not in CSP and "default-src 'none'" in CSP
        assert r.headers["X-Frame-Options"] == "DENY"


def test_an_unknown_message_is_an_html_404_page(signed_in: FlaskClient) -> None:
    r = signed_in.get("/ui/messages/0123456789abcdef0123")
    assert r.status_code == 404 and r.mimetype == "text/html" and "找不到" in r.get_data(as_text=True)


def test_no_page_shows_a_token_a_secret_or_a_password_hash(sqlite_rig: Rig, signed_in: FlaskClient) -> None:
    ops = sqlite_rig.specs[0]
    api = sqlite_rig.app.test_client()
    webhook = f"https://oapi.dingtalk.com/robot/send?access_token={ops.token}"
    leaky = f"copied from {webhook} with 加签 {ops.secret} and {AM_TOKEN}"
    sent = api.post("/ding/send", json={"source": HEIAN_TOKEN, "title": "泄露", "content": leaky})
    assert sent.status_code == 202
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=430102, errmsg=f"bad {webhook}", robot="ops", count=1))
    sqlite_rig.deliver()
    hook = api.post(f"/hooks/generic/heian?template=markdown&token={HEIAN_TOKEN}",
                    json={"title": "告警 巡检", "text": f"巡检 {leaky}", "token": HEIAN_TOKEN, "api_key": "k-123456789",
                          "url": webhook})
    assert hook.status_code == 202, hook.get_data(as_text=True)
    pages = [*PAGES, "/ui/login"]
    for html in (signed_in.get("/ui/messages").get_data(as_text=True),
                 signed_in.get("/ui/templates").get_data(as_text=True)):
        pages += re.findall(r'href="(/ui/messages/[0-9a-f]+)"', html)
        pages += [f"/ui/templates?sample={s}" for s in re.findall(r'value="(received:\d+)"', html)]
    assert any(p.startswith("/ui/templates?sample=received:") for p in pages)
    secrets = [HEIAN_TOKEN, AM_TOKEN, "k-123456789", password_hash()] + [s for r in sqlite_rig.specs
                                                                        for s in (r.token, r.secret)]
    for path in pages:
        body = signed_in.get(path).get_data(as_text=True)
        assert [s for s in secrets if s in body] == [], path
    shown = signed_in.get(f"/ui/messages/{sent.json['id']}").get_data(as_text=True)  # type: ignore[index]
    assert f"access_token={ops.token[:4]}****" in shown          # the URL is shown, its token masked


def test_with_no_users_the_dashboard_says_how_to_add_one(tmp_path: Path) -> None:
    specs = robots()
    emu = emulator_for(specs)
    with emu.serve(host="127.0.0.1", port=0) as server:
        rig = make_rig(tmp_path, emu, server.url, specs, f"sqlite:///{tmp_path / 'ui.db'}", users=False)
        try:
            client = rig.client()
            home = client.get("/ui/")
            other = client.get("/ui/messages")
            login = client.get("/ui/login")
            client.post("/ui/login", data={"username": "admin", "password": "admin"})
            still = client.get("/ui/messages")
        finally:
            rig.close()
    text = home.get_data(as_text=True)
    assert home.status_code == 200 and "还没有用户" in text and "dingrelay passwd" in text and "password_hash" in text
    assert (other.status_code, other.headers["Location"]) == (302, "/ui/login")
    assert "dingrelay passwd" in login.get_data(as_text=True)
    assert still.status_code == 302                               # there is no default password


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(sqlite_rig: Rig, tmp_path: Path) -> None:
    client = sqlite_rig.client()
    sign_in(client)
    assert client.get("/ui/").status_code == 200
    config = tmp_path / "dingrelay.yaml"   # the rig's; the same database, so the same session key
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["dashboard"]["users"][USER]["password_hash"] = hash_password("a brand new passphrase")
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    services = build(load_settings(changed), threads=None)
    try:
        app = create_app(services.gateway, dashboard=services.store.dashboard)
        with app.test_client() as later:
            later.set_cookie("dingrelay_ui", client.get_cookie("dingrelay_ui", path="/ui").value,  # type: ignore[union-attr]
                             path="/ui")
            assert later.get("/ui/").status_code == 302
            assert 'class="logout"' not in later.get("/ui/login").get_data(as_text=True)
    finally:
        services.close()

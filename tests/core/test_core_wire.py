"""The send path on ``http.client`` (``dingrelay.dingtalk.wire``) against a scripted raw-socket server: what goes
on the wire, keep-alive reuse and its limits, every way an answer can go wrong mapped to httpx's exceptions (the
callers' contract), TLS verification, and which URLs and environments take this path at all."""

from __future__ import annotations

import socket
import ssl
import string
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingrelay.dingtalk import Robot, RobotClient, Text
from dingrelay.dingtalk.shards import ShardedHttp
from dingrelay.dingtalk.wire import KEEPALIVE_SECONDS, MAX_ANSWER_BYTES, Wire, plain_origin

OK = b'{"errcode":0,"errmsg":"ok"}'


def answer(body: bytes = OK, *, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


@dataclass
class Scripted:
    """Each request gets ``reply(n)`` (n counts requests from 0): bytes to write, then close if ``close`` says so."""

    port: int
    requests: list[tuple[int, bytes]] = field(default_factory=list)   # (connection number, the whole request)
    connections: int = 0

    @property
    def origin_of(self) -> Callable[[str], tuple[str, str, int, str]]:
        def origin(target: str) -> tuple[str, str, int, str]:
            found = plain_origin(f"http://127.0.0.1:{self.port}{target}")
            assert found is not None
            return found
        return origin


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[socket.socket] = []

    def start(reply: Callable[[int], bytes | None] = lambda n: answer(), *, close_after: set[int] | None = None,
              tls: ssl.SSLContext | None = None) -> Scripted:
        listener = socket.create_server(("127.0.0.1", 0))
        servers.append(listener)
        state = Scripted(listener.getsockname()[1])
        lock = threading.Lock()

        def serve(conn: socket.socket, number: int) -> None:
            buf = b""
            with conn:
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    buf = rest[length:]
                    with lock:
                        n = len(state.requests)
                        state.requests.append((number, head + b"\r\n\r\n" + rest[:length]))
                    out = reply(n)
                    if out is None:            # never answer: the client's read times out
                        conn.recv(1)
                        return
                    conn.sendall(out)
                    if close_after and n in close_after:
                        return

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                if tls is not None:
                    try:
                        conn = tls.wrap_socket(conn, server_side=True)
                    except (ssl.SSLError, OSError):
                        conn.close()
                        continue
                with lock:
                    state.connections += 1
                    number = state.connections
                threading.Thread(target=serve, args=(conn, number), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return state

    yield start
    for listener in servers:
        listener.close()


def wire(**kwargs: object) -> Wire:
    options: dict[str, object] = {"timeout": httpx.Timeout(5.0), "headers": {"User-Agent": "dingrelay"},
                                  "ssl_context": ssl.create_default_context}
    options.update(kwargs)
    return Wire(**options)  # type: ignore[arg-type]


# -- which URLs take this path -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "origin"), [
    ("https://oapi.dingtalk.com/robot/send?access_token=abc",
     ("https", "oapi.dingtalk.com", 443, "/robot/send?access_token=abc")),
    ("http://127.0.0.1:8080/robot/send?a=1&b=%2B", ("http", "127.0.0.1", 8080, "/robot/send?a=1&b=%2B")),
    ("HTTPS://OAPI.DingTalk.com", ("https", "oapi.dingtalk.com", 443, "/")),
    ("http://h?x=1", ("http", "h", 80, "/?x=1")),
])
def test_plain_urls_are_split_into_origin_and_target(url: str, origin: tuple[str, str, int, str]) -> None:
    assert plain_origin(url) == origin


@pytest.mark.parametrize("url", [
    "https://oapi.dingtalk.com/robot/send?access_token=巡检",      # not ASCII: httpx percent-encodes it
    "https://oapi.dingtalk.com/robot/send?x=a b",                 # a space
    "https://oapi.dingtalk.com/robot/send?x=a\r\nHost: evil",     # a header smuggled into the request line
    "https://user:pw@oapi.dingtalk.com/robot/send",               # user info
    "https://oapi.dingtalk.com/robot/send#frag",
    "http://[::1]:8080/robot/send",                               # an IPv6 literal
    "http://h:0/x", "http://h:99999/x", "http://h:8a/x", "http:///x", "ftp://h/x", "oapi.dingtalk.com/robot/send",
])
def test_other_urls_are_left_to_httpx(url: str) -> None:
    assert plain_origin(url) is None


def test_a_proxy_in_the_environment_or_an_injected_transport_keeps_every_send_on_httpx(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    plain = ShardedHttp(transport=None, timeout=5.0, headers={}, max_connections=8)
    injected = ShardedHttp(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=OK)), timeout=5.0,
                           headers={}, max_connections=8)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    proxied = ShardedHttp(transport=None, timeout=5.0, headers={}, max_connections=8)
    try:
        assert plain.over_wire and not injected.over_wire and not proxied.over_wire
    finally:
        for http in (plain, injected, proxied):
            http.close()


# -- what is sent, and keep-alive -----------------------------------------------------------------------------------

def test_a_signed_send_puts_exactly_the_webhook_query_host_and_body_on_the_wire(
        scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    robot = Robot(webhook=f"http://127.0.0.1:{server.port}/robot/send?access_token=tok123", secret="SECabc",
                  name="ops")
    with RobotClient(clock=lambda: 1700000000.0) as client:
        assert client._http.over_wire
        assert client.send(robot, Text(content="巡检 全部正常")).errcode == 0
    (_, request), = server.requests
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("POST /robot/send?access_token=tok123&timestamp=1700000000000&sign=")
    assert lines[0].endswith(" HTTP/1.1") and "%" in lines[0]           # the base64 sign is percent-encoded
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"] == "dingrelay"
    assert int(headers["content-length"]) == len(body)
    assert "巡检 全部正常" in body.decode()


def test_sends_from_one_thread_reuse_its_connection(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    w = wire()
    try:
        for _ in range(5):
            assert w.post(server.origin_of("/robot/send"), b"{}", {}).json() == {"errcode": 0, "errmsg": "ok"}
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1] * 5


def test_each_thread_keeps_its_own_connection_and_close_closes_them_all(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    w = wire()
    barrier, sent = threading.Barrier(4), threading.Barrier(4)

    def send_three() -> None:
        barrier.wait()
        for _ in range(3):
            w.post(server.origin_of("/robot/send"), b"{}", {})
        sent.wait()   # none ends before all have connected: a later connect closes the connections of ended threads

    threads = [threading.Thread(target=send_three) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.connections == 4 and len(server.requests) == 12
        assert w.open_connections == 4
    finally:
        w.close()
    assert w.open_connections == 0
    with pytest.raises(RuntimeError):
        w.post(server.origin_of("/robot/send"), b"{}", {})


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(
        scripted: Callable[..., Scripted]) -> None:
    server = scripted(close_after={0})
    w = wire()
    try:
        w.post(server.origin_of("/a"), b"{}", {})
        _wait_for(lambda: w._mine.conns and not _alive(w))
        assert w.post(server.origin_of("/b"), b"{}", {}).status_code == 200
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1, 2]


def _alive(w: Wire) -> bool:
    return all(entry.usable(entry.used_at) for entry in w._mine.conns.values())


def _wait_for(check: Callable[[], object]) -> None:
    import time
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "the server did not close the connection"
        time.sleep(0.01)


def test_an_answer_saying_connection_close_is_not_reused(scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda n: answer(extra=b"Connection: close\r\n"), close_after={0, 1, 2})
    w = wire()
    try:
        for _ in range(3):
            assert w.post(server.origin_of("/robot/send"), b"{}", {}).status_code == 200
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1, 2, 3]


def test_a_connection_idle_longer_than_the_keepalive_expiry_is_not_reused(scripted: Callable[..., Scripted]) -> None:
    now = [100.0]
    server = scripted()
    w = wire(clock=lambda: now[0])
    try:
        w.post(server.origin_of("/a"), b"{}", {})
        now[0] += KEEPALIVE_SECONDS / 2
        w.post(server.origin_of("/b"), b"{}", {})
        now[0] += KEEPALIVE_SECONDS + 1
        w.post(server.origin_of("/c"), b"{}", {})
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1, 1, 2]


def test_a_chunked_answer_is_read_whole_and_the_connection_kept(scripted: Callable[..., Scripted]) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
               b"d\r\n{\"errcode\":0,\r\ne\r\n\"errmsg\":\"ok\"}\r\n0\r\n\r\n")
    server = scripted(lambda n: chunked)
    w = wire()
    try:
        assert w.post(server.origin_of("/x"), b"{}", {}).json() == {"errcode": 0, "errmsg": "ok"}
        assert w.post(server.origin_of("/x"), b"{}", {}).json() == {"errcode": 0, "errmsg": "ok"}
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1, 1]


# -- failures: httpx's exceptions, and the connection is dropped -----------------------------------------------------

@pytest.mark.parametrize(("reply", "error"), [
    (lambda n: b"SSH-2.0-OpenSSH_9.2\r\n", httpx.RemoteProtocolError),                        # not HTTP
    (lambda n: answer(b"x" * 100)[:-90], httpx.RemoteProtocolError),                          # cut short
    (lambda n: answer(b"x" * (MAX_ANSWER_BYTES + 1)), httpx.RemoteProtocolError),             # too large
    (lambda n: None, httpx.ReadTimeout),                                                      # never answers
])
def test_a_bad_answer_raises_httpx_s_error_and_the_next_send_gets_a_fresh_connection(
        scripted: Callable[..., Scripted], reply: Callable[[int], bytes | None], error: type[Exception]) -> None:
    server = scripted(lambda n: reply(n) if n == 0 else answer(), close_after={0})
    w = wire(timeout=httpx.Timeout(0.5))
    try:
        with pytest.raises(error):
            w.post(server.origin_of("/x"), b"{}", {})
        assert w.open_connections == 0
        assert w.post(server.origin_of("/x"), b"{}", {}).status_code == 200
    finally:
        w.close()
    assert [n for n, _ in server.requests] == [1, 2]


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = wire()
    try:
        with pytest.raises(httpx.ConnectError):
            w.post(("http", "127.0.0.1", port, "/"), b"{}", {})
    finally:
        w.close()


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent(
        scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    w = wire()
    try:
        with pytest.raises(httpx.LocalProtocolError):
            w.post(server.origin_of("/x"), b"{}", {"x-acs-dingtalk-access-token": "tok\r\nX-Evil: 1"})
        assert w.post(server.origin_of("/x"), b"{}", {}).status_code == 200
    finally:
        w.close()
    assert len(server.requests) == 1 and b"X-Evil" not in server.requests[0][1]


def test_the_robot_client_turns_a_bad_answer_into_a_transport_error_naming_the_masked_url(
        scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda n: b"garbage\r\n\r\n", close_after={0})
    robot = Robot(webhook=f"http://127.0.0.1:{server.port}/robot/send?access_token=secret-token-1234567890",
                  name="ops")
    from dingrelay.dingtalk.errors import TransportError
    with RobotClient() as client, pytest.raises(TransportError) as caught:
        client.send(robot, Text(content="巡检"))
    assert "secret-token-1234567890" not in str(caught.value) and "robot ops" in str(caught.value)


# -- TLS -------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    return cert, key


def test_https_verifies_the_server_certificate(scripted: Callable[..., Scripted],
                                               certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = scripted(tls=tls)
    origin = ("https", "127.0.0.1", server.port, "/robot/send")

    trusting = wire(ssl_context=lambda: ssl.create_default_context(cafile=str(cert)))
    default = wire()     # the system's roots: this self-signed certificate is not among them
    try:
        assert trusting.post(origin, b"{}", {}).json()["errcode"] == 0
        assert trusting.post(origin, b"{}", {}).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            default.post(origin, b"{}", {})
    finally:
        trusting.close()
        default.close()
    assert [n for n, _ in server.requests] == [1, 1]


# -- same bytes as httpx --------------------------------------------------------------------------------------------

@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_a_url_taken_here_is_sent_as_httpx_would_send_it(tail: str) -> None:
    url = f"http://oapi.dingtalk.com:8080/robot/send?access_token={tail}"
    origin = plain_origin(url)
    if origin is None:
        return        # left to httpx
    parsed = httpx.URL(url)
    assert (origin[1], origin[2]) == (parsed.host, parsed.port)
    assert origin[3] == parsed.raw_path.decode()


@given(st.text(alphabet=sorted(set(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:/?%")), max_size=40))
def test_a_url_of_plain_characters_is_taken_here_and_sent_as_httpx_would_send_it(tail: str) -> None:
    url = f"https://oapi.dingtalk.com/robot/send?access_token={tail}"
    origin = plain_origin(url)
    assert origin is not None
    assert origin[3] == httpx.URL(url).raw_path.decode()


def test_the_connections_of_a_thread_that_ended_are_closed_when_another_connects(
        scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    w = wire()
    try:
        for _ in range(3):   # three short-lived threads, one send each
            t = threading.Thread(target=lambda: w.post(server.origin_of("/x"), b"{}", {}))
            t.start()
            t.join()
        assert w.open_connections == 1      # the last thread's, until someone connects again
        w.post(server.origin_of("/x"), b"{}", {})
        assert w.open_connections == 1      # this thread's: the ended thread's connection is closed
    finally:
        w.close()
    assert server.connections == 4

"""
pigeon's HTTP/1.1 server (src/httpd), byte for byte on raw sockets:
pipelining, Expect: 100-continue, HTTP/1.0 keep-alive, the head limits
(414, 431, 505), bare LF, and what a client past a cap is told.
"""
import json
import re
import secrets
import socket
import time

import pytest

from conftest import simple
from test_http_headers import exchange, responses

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def uniq(prefix):
    return "%s-%s@example.net" % (prefix, secrets.token_hex(4))


def send_request(server, to, extra=b""):
    body = json.dumps(simple(to=to)).encode()
    return (b"POST /client/v4" + server.apath("send").encode() +
            b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            server.token.encode() + b"\r\nContent-Type: application/json"
            b"\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body),
            body)


def read_answers(c, n, timeout=10):
    """Reads from c until n whole answers are in (or timeout)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(responses(out)) >= n:
                break
        except (AssertionError, ValueError, IndexError):
            pass
        c.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = c.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    return out


def test_pipelined_requests_answered_in_order(server):
    """Fifty requests in one write, a send among them: fifty answers in
    order on the same connection, which stays open."""
    to = uniq("pipe")
    head, body = send_request(server, to)
    batch = HEALTHZ * 25 + head + body + HEALTHZ * 24
    c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        c.sendall(batch)
        out = read_answers(c, 50)
        rs = responses(out)
        assert [r[0] for r in rs] == [200] * 50, out[-500:]
        assert b'"message_id"' in rs[25][2] and to.encode() in rs[25][2], \
            rs[25]
        assert all(b'"status":"ok"' in r[2] for r in rs[:25] + rs[26:])
        c.sendall(HEALTHZ)  # still open
        assert responses(read_answers(c, 1))[0][0] == 200
    finally:
        c.close()


def test_expect_continue(server):
    """Expect: 100-continue gets its 100 once the head is accepted, then
    the answer."""
    to = uniq("cont")
    head, body = send_request(server, to, b"Expect: 100-continue\r\n")
    c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        c.sendall(head)
        got = c.recv(4096)
        assert got == b"HTTP/1.1 100 Continue\r\n\r\n", got
        c.sendall(body)
        rs = responses(read_answers(c, 1))
        assert rs[0][0] == 200 and to.encode() in rs[0][2], rs
    finally:
        c.close()


def test_expect_continue_refused_body_gets_no_100(server):
    """A body refused on its head (too big) gets no 100: the answer
    comes at once, and the connection is closed."""
    req = (b"POST /client/v4" + server.apath("send").encode() +
           b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
           server.token.encode() + b"\r\nExpect: 100-continue\r\n"
           b"Content-Length: 999999999\r\n\r\n")
    out, closed = exchange(server.port, req)
    assert b"100 Continue" not in out, out
    rs = responses(out)
    assert len(rs) == 1 and rs[0][0] == 400, out
    assert json.loads(rs[0][2])["errors"][0]["code"] == 10200
    assert closed


def test_http10_keep_alive(server):
    """HTTP/1.0 with Connection: keep-alive keeps the connection (and
    says so); without it the connection closes after the answer."""
    c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        c.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        out = read_answers(c, 1)
        assert b"\r\nConnection: keep-alive\r\n" in out, out
        c.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert responses(read_answers(c, 1))[0][0] == 200
    finally:
        c.close()
    out, closed = exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert responses(out)[0][0] == 200 and closed, out


@pytest.mark.parametrize("req,status,what", [
    (b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "request-target"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 40000 +
     b"\r\n\r\n", 431, "header section"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n", 431,
     "header fields"),
    (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1"),
    (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "CRLF"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400,
     "X-A"),
])
def test_head_limits_answer_in_the_envelope(server, req, status, what):
    """What the head reader refuses is one answer with its status, the
    envelope (10001) naming the problem, and a close."""
    out, closed = exchange(server.port, req + HEALTHZ)
    rs = responses(out)
    assert len(rs) == 1 and rs[0][0] == status, out[:600]
    j = json.loads(rs[0][2])
    assert j["success"] is False and j["errors"][0]["code"] == 10001, j
    assert what.lower() in j["messages"][0]["message"].lower(), j
    assert rs[0][1].get("connection", "").lower() == "close", rs[0][1]
    assert closed


def test_refusals_past_a_cap_are_logged_once_in_a_while(make_server):
    """150 connections past max_connections_per_ip: each is answered
    503, and the log says so in a line or two, not 150."""
    s = make_server(max_connections_per_ip=5).start()
    socks = []
    try:
        for _ in range(155):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            socks.append(c)
        time.sleep(0.5)
        refused = 0
        for c in socks:  # which five are kept is the accept order's
            c.settimeout(0.2)
            try:
                got = c.recv(4096)
            except socket.timeout:
                continue
            if got.startswith(b"HTTP/1.1 503 "):
                assert b'"code":10002' in got, got
                refused += 1
        # 151 when the harness's own start-up connection still counts
        assert 150 <= refused <= 151, refused
        lines = re.findall(r"max_connections_per_ip=5 reached.*",
                           s.stderr())
        assert 1 <= len(lines) <= 4, lines
    finally:
        for c in socks:
            c.close()

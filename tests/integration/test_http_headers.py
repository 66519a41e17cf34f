"""
How pigeon reads HTTP framing and request header fields, byte for byte
(raw sockets: http.client would normalise what these tests send).

RFC 9112 §6.1/§6.3: a request framed two ways (two Content-Length
headers, or Transfer-Encoding with Content-Length) is refused with 400
and the connection closed, so nothing after its headers runs as a
request. SPEC §2.3/§2.4: Authorization, X-Auth-Email, X-Auth-Key and
Idempotency-Key are single values: a repeat or a NUL byte is refused,
surrounding OWS is not part of the value (RFC 9110 §5.5), and the key
limit counts characters. SPEC §2.1: /healthz answers in the envelope;
RFC 9110 §9.3.2: HEAD is answered wherever GET is.
"""
import http.client
import json
import secrets
import socket
import time

import pytest

from conftest import (ERRORS, assert_error, assert_ok, assert_send_result,
                      simple)

SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def uniq(prefix):
    return "%s-%s@example.net" % (prefix, secrets.token_hex(4))


def exchange(port, data, timeout=5):
    """Writes data on a fresh connection and reads until the server
    closes it or timeout passes. (bytes read, closed by the server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, closed = b"", False
    deadline = time.time() + timeout
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        while time.time() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not c:
                closed = True
                break
            out += c
    finally:
        s.close()
    return out, closed


def responses(out):
    """The (status, headers, body) of each response in out, in order;
    bodies are framed by Content-Length."""
    res = []
    while out:
        head, sep, rest = out.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), out[:300]
        lines = head.decode("latin-1").split("\r\n")
        hs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hs[k.strip().lower()] = v.strip()
        n = int(hs.get("content-length", "0"))
        res.append((int(lines[0].split(" ")[1]), hs, rest[:n]))
        out = rest[n:]
    return res


def post_bytes(server, headers, body, path=None):
    """A POST send whose header lines are given as bytes, in order."""
    path = path or "/client/v4" + server.apath("send")
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
            b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def one_error(out, code):
    """out holds exactly one response, the error code in the envelope."""
    rs = responses(out)
    assert len(rs) == 1, "want one response, got %d: %r" % (len(rs), out)
    status, hs, body = rs[0]
    j = json.loads(body)
    assert (status, j["errors"][0]["code"]) == (ERRORS[code][0], code), out
    assert j["success"] is False and j["result"] is None, out
    return hs, j


def send_json(to):
    return json.dumps(simple(to=to)).encode()


# -- B1: two Content-Length headers; Transfer-Encoding with Content-Length --
@pytest.mark.parametrize("order", ["short-first", "long-first", "same"])
def test_two_content_lengths_refused_and_closed(server, order):
    to = uniq("dupcl")
    body = send_json(to)
    n1, n2 = len(body), len(body) + len(SMUGGLED)
    if order == "long-first":
        n1, n2 = n2, n1
    elif order == "same":
        n2 = n1
    req = post_bytes(server, [
        b"Authorization: Bearer " + server.token.encode(),
        b"Content-Length: %d" % n1, b"Content-Length: %d" % n2],
        body + SMUGGLED)
    out, closed = exchange(server.port, req)
    # a send route answers framing errors 10201 (SPEC §2.2)
    hs, j = one_error(out, 10201)
    assert "more than one content-length" in \
        j["messages"][0]["message"].lower(), j
    assert hs.get("connection", "").lower() == "close", hs
    assert closed, "the connection stayed open: %r" % out
    assert b"\"status\":\"ok\"" not in out, "the smuggled GET was answered"


def test_two_content_lengths_on_a_get_route(server):
    """The same on a route without a body: no route escapes the rule."""
    req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
           b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)) + SMUGGLED
    out, closed = exchange(server.port, req)
    hs, _ = one_error(out, 10001)
    assert closed and hs.get("connection", "").lower() == "close", out


def test_two_content_lengths_refused_before_auth(server):
    req = post_bytes(server, [b"Content-Length: 2", b"Content-Length: 2"],
                     b"{}")
    out, closed = exchange(server.port, req)
    one_error(out, 10201)
    assert closed, out


@pytest.mark.parametrize("path", ["send", "/healthz"])
def test_chunked_with_content_length_refused_and_closed(server, path):
    """RFC 9112 §6.1: the server MUST close after answering. A send was
    already refused this way; a GET route answered and kept the
    connection."""
    body = send_json(uniq("tecl"))
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    if path == "send":
        req = post_bytes(server, [
            b"Authorization: Bearer " + server.token.encode(),
            b"Transfer-Encoding: chunked",
            b"Content-Length: %d" % len(chunked)], chunked + SMUGGLED)
    else:
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
               b"0\r\n\r\n" + SMUGGLED)
    out, closed = exchange(server.port, req)
    # SPEC §2.2: 10201 is the send routes' answer; elsewhere 10001.
    hs, j = one_error(out, 10201 if path == "send" else 10001)
    assert_human_text(j, "transfer-encoding", "content-length")
    assert closed and hs.get("connection", "").lower() == "close", out


def assert_human_text(j, *needles):
    text = j["messages"][0]["message"].lower()
    for n in needles:
        assert n in text, (n, text)


def test_one_content_length_keeps_the_connection(server):
    """Guard: a well-framed request is not closed by the new rule."""
    req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
           + SMUGGLED)
    out, closed = exchange(server.port, req, timeout=1.5)
    rs = responses(out)
    assert [r[0] for r in rs] == [200, 200], out
    assert not closed, out


# -- D4: repeated auth and Idempotency-Key headers --------------------------
def global_key(server):
    k = server.cli("token", "create", server.account, "--perm",
                   "send,read,manage", "--global-key", "hdr@example.com")
    return k["token"].encode()


def raw_send(server, headers, body=None):
    body = body if body is not None else send_json(uniq("hdr"))
    req = post_bytes(server, list(headers) + [
        b"Content-Length: %d" % len(body), b"Connection: close"], body)
    out, _ = exchange(server.port, req, timeout=10)
    rs = responses(out)
    assert len(rs) == 1, out
    status, hs, raw = rs[0]
    return status, hs, json.loads(raw)


def assert_raw_error(r, code, *needles):
    status, _, j = r
    assert (status, j["errors"][0]["code"]) == (ERRORS[code][0], code), r
    assert j["success"] is False and j["result"] is None, r
    text = j["messages"][0]["message"].lower() if j["messages"] else ""
    for n in needles:
        assert n.lower() in text, (n, r)


@pytest.mark.parametrize("first,second", [("good", "bad"), ("bad", "good"),
                                          ("good", "good")])
def test_repeated_authorization_is_401(server, first, second):
    tok = {"good": server.token.encode(), "bad": b"x" * 40}
    r = raw_send(server, [b"Authorization: Bearer " + tok[first],
                          b"Authorization: Bearer " + tok[second]])
    assert_raw_error(r, 10101, "Authorization", "more than once")


@pytest.mark.parametrize("name", ["X-Auth-Email", "X-Auth-Key"])
def test_repeated_global_key_header_is_401(server, name):
    key = global_key(server)
    hs = {b"X-Auth-Email": [b"hdr@example.com"], b"X-Auth-Key": [key]}
    hs[name.encode()].append(hs[name.encode()][0])
    lines = [k + b": " + v for k, vs in hs.items() for v in vs]
    assert_raw_error(raw_send(server, lines), 10101, name, "more than once")
    # Guard: once each, the same key works.
    lines = [b"X-Auth-Email: hdr@example.com", b"X-Auth-Key: " + key]
    assert raw_send(server, lines)[0] == 200


def test_repeated_idempotency_key_is_400(server):
    k = b"rep-" + secrets.token_hex(6).encode()
    auth = b"Authorization: Bearer " + server.token.encode()
    for other in (k, k + b"-b"):
        r = raw_send(server, [auth, b"Idempotency-Key: " + k,
                              b"Idempotency-Key: " + other])
        assert_raw_error(r, 10001, "Idempotency-Key", "more than once")
    # Nothing was recorded under the key: a single one is a fresh send.
    status, hs, _ = raw_send(server, [auth, b"Idempotency-Key: " + k])
    assert status == 200 and "idempotent-replayed" not in hs, hs


# -- D3: a NUL byte inside a header value ----------------------------------
# libmicrohttpd 0.9.75 cuts a header value at its first NUL and reports the
# cut length (it measures with strlen()), so pigeon cannot see the NUL
# through MHD's API. strict: these start failing, as a reminder to drop
# the mark, once the library reports the real length.
NUL_XFAIL = pytest.mark.xfail(
    strict=True, reason="libmicrohttpd 0.9.75 hides bytes after a NUL")


@NUL_XFAIL
def test_nul_in_authorization_is_401(server):
    r = raw_send(server, [b"Authorization: Bearer " + server.token.encode() +
                          b"\x00junk"])
    assert_raw_error(r, 10101, "NUL")


@NUL_XFAIL
def test_nul_in_global_key_headers_is_401(server):
    key = global_key(server)
    r = raw_send(server, [b"X-Auth-Email: hdr@example.com\x00junk",
                          b"X-Auth-Key: " + key])
    assert_raw_error(r, 10101, "X-Auth-Email")
    r = raw_send(server, [b"X-Auth-Email: hdr@example.com",
                          b"X-Auth-Key: " + key + b"\x00junk"])
    assert_raw_error(r, 10101, "X-Auth-Key")


@NUL_XFAIL
def test_nul_in_idempotency_key_is_400(server):
    k = secrets.token_hex(4).encode()
    auth = b"Authorization: Bearer " + server.token.encode()
    body = send_json(uniq("nul"))
    for kk in (k + b"\x00one", k + b"\x00two"):
        r = raw_send(server, [auth, b"Idempotency-Key: " + kk], body)
        assert_raw_error(r, 10001, "Idempotency-Key", "NUL")


# -- D1: OWS around the values is not part of them -------------------------
@pytest.mark.parametrize("ows", [b"  ", b"\t", b" \t "])
def test_idempotency_key_trailing_whitespace_is_the_same_key(server, ows):
    k = b"ows-" + secrets.token_hex(6).encode()
    auth = b"Authorization: Bearer " + server.token.encode()
    body = send_json(uniq("ows"))
    s1, h1, j1 = raw_send(server, [auth, b"Idempotency-Key: " + k + ows],
                          body)
    assert s1 == 200, j1
    s2, h2, j2 = raw_send(server, [auth, b"Idempotency-Key: " + k], body)
    assert s2 == 200 and h2.get("idempotent-replayed") == "true", (h2, j2)
    assert j2["result"]["message_id"] == j1["result"]["message_id"]
    s3, h3, j3 = raw_send(server, [auth, b"Idempotency-Key:\t" + k + ows],
                          body)
    assert s3 == 200 and h3.get("idempotent-replayed") == "true", (h3, j3)


@pytest.mark.parametrize("ows", [b" ", b"\t", b" \t "])
def test_authorization_trailing_whitespace(server, ows):
    r = raw_send(server, [b"Authorization: Bearer " + server.token.encode() +
                          ows])
    assert r[0] == 200, r


def test_global_key_headers_trailing_whitespace(server):
    key = global_key(server)
    r = raw_send(server, [b"X-Auth-Email: hdr@example.com \t",
                          b"X-Auth-Key: " + key + b"  "])
    assert r[0] == 200, r


def test_whitespace_only_idempotency_key_is_400(server):
    """Guard: stripping OWS leaves an empty key, which is refused."""
    r = raw_send(server, [b"Authorization: Bearer " + server.token.encode(),
                          b"Idempotency-Key:  \t "])
    assert_raw_error(r, 10001, "Idempotency-Key")


# -- D2: the 256 limit counts characters -----------------------------------
def test_idempotency_key_limit_counts_characters(server):
    tag = secrets.token_hex(4)
    ok = tag + "\u00e4" * (256 - len(tag))          # 256 chars, > 256 bytes
    assert len(ok) == 256 and len(ok.encode()) > 256
    auth = b"Authorization: Bearer " + server.token.encode()
    s, _, j = raw_send(server, [auth, b"Idempotency-Key: " + ok.encode()])
    assert s == 200, j
    over = tag + "\u00e4" * (257 - len(tag))
    r = raw_send(server, [auth, b"Idempotency-Key: " + over.encode()])
    assert_raw_error(r, 10001, "256 characters")
    emoji = tag + "\U0001F600" * (256 - len(tag))   # 4 bytes each
    s, _, j = raw_send(server, [auth, b"Idempotency-Key: " + emoji.encode()])
    assert s == 200, j


def test_idempotency_key_limit_counts_bytes_when_not_utf8(server):
    """Guard: a key that is not UTF-8 is measured in bytes."""
    auth = b"Authorization: Bearer " + server.token.encode()
    tag = secrets.token_hex(4).encode()
    ok = tag + b"\xe9" * (256 - len(tag))            # Latin-1, 256 bytes
    s, _, j = raw_send(server, [auth, b"Idempotency-Key: " + ok])
    assert s == 200, j
    r = raw_send(server, [auth, b"Idempotency-Key: " + ok + b"\xe9"])
    assert_raw_error(r, 10001, "256 characters")


# -- D8: /healthz in the envelope, HEAD wherever GET works -----------------
def test_healthz_envelope(server):
    r = server.request("GET", "/healthz", auth=False)
    assert r.json == {"success": True, "errors": [], "messages": [],
                      "result": {"status": "ok"}}, r
    assert assert_ok(r) == {"status": "ok"}
    assert r.headers.get("Content-Type") == "application/json", r.headers


def head_and_get(server, path, auth=True):
    """HEAD then GET of path on one keep-alive connection: a HEAD that
    sent a body would corrupt the GET's answer."""
    h = {"Authorization": "Bearer " + server.token} if auth else {}
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        c.request("HEAD", path, headers=h)
        rh = c.getresponse()
        head_body = rh.read()
        c.request("GET", path, headers=h)
        rg = c.getresponse()
        get_body = rg.read()
        return rh, head_body, rg, get_body
    finally:
        c.close()


def assert_head_like_get(rh, head_body, rg, get_body):
    assert head_body == b"", head_body
    assert rh.status == rg.status, (rh.status, rg.status)
    assert rh.getheader("Content-Type") == rg.getheader("Content-Type")
    cl = rh.getheader("Content-Length")
    assert cl is not None and int(cl) == len(get_body), (cl, len(get_body))


def test_head_healthz(server):
    rh, hb, rg, gb = head_and_get(server, "/healthz", auth=False)
    assert rh.status == 200
    assert_head_like_get(rh, hb, rg, gb)


def test_head_get_routes(server):
    res = assert_send_result(server.send(simple(to=uniq("head"))))
    mid = res["message_id"].strip("<>")
    for path in ("/client/v4" + server.apath("messages/" + mid),
                 "/client/v4" + server.apath("messages/%s/status" % mid),
                 "/client/v4/user/tokens/verify", "/user/tokens/verify"):
        rh, hb, rg, gb = head_and_get(server, path)
        assert rh.status == 200, (path, rh.status)
        assert_head_like_get(rh, hb, rg, gb)


def test_head_errors_like_get(server):
    """HEAD gets GET's error status and headers: 401 without a token,
    404 for an unknown message; still no body."""
    rh, hb, rg, gb = head_and_get(server, "/user/tokens/verify", auth=False)
    assert rh.status == 401
    assert_head_like_get(rh, hb, rg, gb)
    rh, hb, rg, gb = head_and_get(
        server, server.apath("messages/" + "A" * 36 + "@example.com"))
    assert rh.status == 404
    assert_head_like_get(rh, hb, rg, gb)


@pytest.mark.parametrize("method,path", [
    ("POST", "/healthz"), ("DELETE", "/healthz"),
    ("POST", "/user/tokens/verify"),
    ("DELETE", "messages/x@example.com"),
    ("POST", "messages/x@example.com/status")])
def test_allow_lists_head_beside_get(server, method, path):
    if not path.startswith("/"):
        path = "/client/v4" + server.apath(path)
    r = server.request(method, path)
    assert_error(r, 10003)
    allow = [a.strip() for a in r.headers.get("Allow", "").split(",")]
    assert sorted(allow) == ["GET", "HEAD"], r.headers.get("Allow")


def test_head_on_post_route_is_405(server):
    """Guard: HEAD follows GET only; a POST route still says 405."""
    r = server.request("HEAD", "/client/v4" + server.apath("send"))
    assert r.status == 405 and r.raw == b"", r
    assert r.headers.get("Allow") == "POST", r.headers.get("Allow")

"""
SPEC §2.1-§2.3: the error table rows that send and send_raw can produce,
the order of checks, the envelope, auth.
"""
import calendar
import json
import secrets
import select
import socket
import time

import pytest

from conftest import (SENDER, assert_error, assert_human, assert_send_result,
                      simple)

RAW = {"from": SENDER, "recipients": ["rcpt@example.net"],
       "mime_message": "From: sender@example.com\r\nTo: rcpt@example.net\r\n"
                       "Subject: Hi\r\n\r\nHello"}


def raw_post(server, path, head_extra, body_len, body_byte=b"a",
             token=None, timeout=30):
    """POST body_len bytes of JSON-ish data over a plain socket, stopping
    as soon as the server answers early; returns (status, json)."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\n"
                "Content-Type: application/json\r\n%s\r\n" %
                (path, token or server.token, head_extra)).encode()
        s.sendall(head)
        chunk = body_byte * 65536
        sent = 0
        while sent < body_len:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            n = min(len(chunk), body_len - sent)
            try:
                s.sendall(chunk[:n])
            except OSError:
                break
            sent += n
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            data += b
            if b"\r\n\r\n" in data:
                h, rest = data.split(b"\r\n\r\n", 1)
                cl = [ln for ln in h.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
        assert data, "no answer to an oversized POST"
        status = int(data.split(b" ", 2)[1])
        body = data.split(b"\r\n\r\n", 1)[1]
        return status, json.loads(body[:body.rfind(b"}") + 1])
    finally:
        s.close()


class R:
    """Adapter so assert_error works on a raw_post answer."""

    def __init__(self, status, j):
        self.status, self.json, self.headers = status, j, {}

    def __repr__(self):
        return "R(%d, %r)" % (self.status, self.json)


# -- success envelope ---------------------------------------------------------
def test_success_envelope(server):
    r = server.send(simple())
    assert_send_result(r, ["rcpt@example.net"])
    assert r.json["messages"] == [] or all(
        "code" in m for m in r.json["messages"])
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("application/json"), ct


# -- 10001 --------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    b"not json", b"{", b"[]", b'"a string"', b"null", b"42", b"",
    b'{"from": "sender@example.com", "to": "a@example.net", "subject": '
    b'"x", "text": "y"} trailing',
    b'{"from": "sender@example.com", "to": "a@example.net", "subject": '
    b'"x", "text": "y", "z": NaN}',
    b'{"from": "sender@example.com", "to": "a@example.net", "subject": '
    b'"x", "text": "y", "z": [-Infinity]}',
])
def test_10001_not_a_json_object(server, body):
    r = server.send(body)
    assert_error(r, 10001)


@pytest.mark.parametrize("field,raw,why", [
    ("subject", b"h\xed\xa0\x80", "UTF-8"),           # a surrogate
    ("text", b"x\xc0\xafy", "UTF-8"),                  # overlong '/'
    ("text", b"\xf4\x90\x80\x80", "UTF-8"),           # past U+10FFFF
    ("subject", b"a\x01b", "control character"),
    ("to", b"a\\ud800@example.net", "surrogate"),      # would be U+FFFD
    ("subject", b"\\udc00", "surrogate"),
])
def test_10001_not_utf8_json(server, field, raw, why):
    """RFC 8259 §8.1: JSON is UTF-8; a body that is not is not JSON, in
    any field, and nothing of it reaches a message."""
    fields = {"from": b'"sender@example.com"', "to": b'"a@example.net"',
              "subject": b'"s"', "text": b'"t"'}
    fields[field] = b'"' + raw + b'"'
    body = b"{" + b",".join(b'"%s":%s' % (k.encode(), v)
                            for k, v in fields.items()) + b"}"
    r = server.send(body)
    assert_error(r, 10001)
    assert_human(r, why)


@pytest.mark.parametrize("field,value,pointer", [
    ("subject", 5, "/subject"),
    ("subject", None, None),  # removed below: missing
    ("text", ["x"], "/text"),
    ("html", {"a": 1}, "/html"),
    ("to", 7, "/to"),
    ("to", [1, 2], None),
    ("from", ["sender@example.com"], "/from"),
    ("from", {"name": "No address"}, None),
    ("headers", ["X-A: b"], "/headers"),
    ("headers", {"X-A": 5}, None),
    ("attachments", {"content": "aGk="}, "/attachments"),
    ("reply_to", 12, "/reply_to"),
    ("cc", True, "/cc"),
])
def test_10001_wrong_types(server, field, value, pointer):
    body = simple()
    if value is None:
        body.pop(field)
    else:
        body[field] = value
    r = server.send(body)
    assert_error(r, 10001, pointer)
    assert_human(r)


@pytest.mark.parametrize("missing", ["from", "subject"])
def test_10001_missing_required(server, missing):
    body = simple()
    del body[missing]
    r = server.send(body)
    assert_error(r, 10001)
    assert_human(r, missing)


def test_10001_name_angle_string(server):
    r = server.send(simple(to="Bob <bob@example.net>"))
    assert_error(r, 10001)
    r = server.send(simple(**{"from": "Sender <sender@example.com>"}))
    assert_error(r, 10001)
    assert_human(r, "has a display name", "bare address")
    r = server.send(simple(to="<bob@example.net>"))
    assert_error(r, 10001, "/to")
    assert_human(r, "angle brackets", "bare address")


def test_10001_unknown_disposition(server):
    att = {"content": "aGVsbG8=", "filename": "a.txt", "type": "text/plain",
           "disposition": "sideways"}
    r = server.send(simple(attachments=[att]))
    assert_error(r, 10001)


def test_10001_address_and_email_both(server):
    r = server.send(simple(to={"address": "a@example.net",
                               "email": "a@example.net"}))
    assert_error(r, 10001)
    # a null alias is absent, like a null name
    assert_send_result(server.send(simple(to={"address": "a@example.net",
                                              "email": None})))
    assert_send_result(server.send(simple(to={"email": "a@example.net",
                                              "address": None})))
    r = server.send(simple(to={"email": None, "address": None}))
    assert_error(r, 10001, "/to/address")


def test_10001_send_raw_schema(server):
    for k in ("from", "recipients", "mime_message"):
        b = dict(RAW)
        del b[k]
        assert_error(server.send_raw(b), 10001)
    b = dict(RAW, recipients="rcpt@example.net")
    assert_error(server.send_raw(b), 10001)
    b = dict(RAW, mime_message=5)
    assert_error(server.send_raw(b), 10001)
    assert_error(server.send_raw(b"[1]"), 10001)


# -- 10200 / 10201 --------------------------------------------------------------
def test_10200_body_over_7mib(server):
    n = 7 * 1024 * 1024 + 1024
    st, j = raw_post(server, server.apath("send"),
                     "Content-Length: %d\r\n" % n, n)
    assert_error(R(st, j), 10200)


def test_10200_body_over_7mib_send_raw(server):
    n = 7 * 1024 * 1024 + 1024
    st, j = raw_post(server, server.apath("send_raw"),
                     "Content-Length: %d\r\n" % n, n)
    assert_error(R(st, j), 10200)


def chunked_post(server, path, payload, token=None):
    """A chunked POST (no Content-Length), as http.client would send it
    with encode_chunked=True; read the answer even if the server answers
    before the body is complete."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                        for c in (payload[:10], payload[10:])) + b"0\r\n\r\n"
        req = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Authorization: Bearer %s\r\n"
               "Content-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" %
               (path, token or server.token)).encode() + body
        try:
            s.sendall(req)
        except OSError:
            pass
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            data += b
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
        assert data, "no answer to a chunked POST"
        status = int(data.split(b" ", 2)[1])
        j = data.split(b"\r\n\r\n", 1)[1]
        if b"transfer-encoding: chunked" in data.split(b"\r\n\r\n")[0].lower():
            j = j[j.index(b"{"):j.rindex(b"}") + 1]
        return R(status, json.loads(j))
    finally:
        s.close()


def test_10201_chunked(server):
    payload = json.dumps(simple()).encode()
    assert_error(chunked_post(server, server.apath("send"), payload), 10201)
    payload = json.dumps(RAW).encode()
    assert_error(chunked_post(server, server.apath("send_raw"), payload),
                 10201)


# -- 10202 --------------------------------------------------------------------
def test_10202_bad_address(server):
    r = server.send(simple(to=["ok@example.net", "bob@@example.net"]))
    assert_error(r, 10202, "/to/1")
    assert_human(r, "bob@@example.net")


# -- 10101 --------------------------------------------------------------------
def test_10101_no_authorization(server):
    r = server.send(simple(), auth=False)
    assert_error(r, 10101)
    assert_human(r, "no credentials", "Bearer")
    r = server.send_raw(RAW, auth=False)
    assert_error(r, 10101)


def test_10101_messages_say_what_to_send_not_why(server):
    """The sentence helps a client that sends the wrong shape and tells
    nothing about which check a bad token failed."""
    r = server.send(simple(), auth=False,
                    headers={"Authorization": server.token})
    assert_human(r, "must be 'Bearer <token>'")
    texts = set()
    for hdr in ["Bearer " + "x" * 40, "Bearer " + server.token[:-1]]:
        r = server.send(simple(), auth=False,
                        headers={"Authorization": hdr})
        texts.add(assert_human(r, "not valid"))
    assert len(texts) == 1, texts


@pytest.mark.parametrize("hdr", [
    "Bearer " + "x" * 40, "Bearer ", "Basic dXNlcjpwYXNz", "bearer",
    "Token abc",
])
def test_10101_bad_tokens(server, hdr):
    r = server.send(simple(), auth=False, headers={"Authorization": hdr})
    assert_error(r, 10101)


def test_10101_revoked(server):
    t = server.cli("token", "create", server.account, "--perm", "send")
    assert len(t["token"]) == 40
    assert_send_result(server.send(simple(), token=t["token"]))
    server.cli("token", "revoke", t["id"], json_out=False)
    r = server.wait_for(lambda: (lambda r: r if r.status == 401 else None)(
        server.send(simple(), token=t["token"])))
    assert r, "revoked token still accepted after 6 s"
    assert_error(r, 10101)


def test_10101_expired(server):
    p = server.cli("token", "create", server.account, "--perm", "send",
                   "--expires", "2020-01-01", check=False)
    if p.returncode == 0:
        t = json.loads(p.stdout)
    else:
        # the CLI refuses a date in the past: expire one in 2 s instead
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(time.time() + 2))
        t = server.cli("token", "create", server.account, "--perm", "send",
                       "--expires", when)
        assert_send_result(server.send(simple(), token=t["token"]))
        time.sleep(max(0, calendar.timegm(time.strptime(
            when, "%Y-%m-%dT%H:%M:%SZ")) - time.time()) + 0.3)
    assert_error(server.send(simple(), token=t["token"]), 10101)
    assert_error(server.send_raw(RAW, token=t["token"]), 10101)


def test_auth_checked_before_body(server):
    r = server.send(b"not json", auth=False,
                    headers={"Authorization": "Bearer nope"})
    assert_error(r, 10101)


# -- 10103 and global keys ----------------------------------------------------
def test_10103_global_key_as_bearer(server):
    k = server.cli("token", "create", server.account, "--perm",
                   "send,read,manage", "--global-key", "ops@example.com")
    r = server.send(simple(), token=k["token"])
    assert_error(r, 10103)
    r = server.send(simple(), auth=False,
                    headers={"X-Auth-Email": "ops@example.com",
                             "X-Auth-Key": k["token"]})
    assert_send_result(r)
    r = server.send(simple(), auth=False,
                    headers={"X-Auth-Email": "other@example.com",
                             "X-Auth-Key": k["token"]})
    assert_error(r, 10101)


# -- 10102 --------------------------------------------------------------------
def test_10102_missing_perm(server):
    t = server.cli("token", "create", server.account, "--perm", "read")
    assert_error(server.send(simple(), token=t["token"]), 10102)
    assert_error(server.send_raw(RAW, token=t["token"]), 10102)


@pytest.fixture(scope="module")
def other(server):
    return server.new_account(domain="other-" + secrets.token_hex(3) +
                              ".test")


def test_10102_token_of_another_account(server, other):
    r = server.send(simple(), token=other["token"])
    assert_error(r, 10102)
    r = server.send_raw(RAW, token=other["token"])
    assert_error(r, 10102)


def test_10102_unknown_account(server):
    r = server.send(simple(), account=secrets.token_hex(16))
    assert_error(r, 10102)


# -- 10105 / 10203 ------------------------------------------------------------
def _until(server, fn, status):
    return server.wait_for(lambda: (lambda r: r if r.status == status
                                    else None)(fn()))


def test_10105_not_entitled(server):
    dom = "ent-" + secrets.token_hex(3) + ".test"
    a = server.new_account(domain=dom)
    body = simple(**{"from": "x@" + dom})
    assert_send_result(server.send(body, token=a["token"],
                                   account=a["account"]))
    server.cli("account", "set", a["account"], "--entitled", "false",
               json_out=False)
    r = _until(server, lambda: server.send(body, token=a["token"],
                                           account=a["account"]), 403)
    assert r, "entitlement change not seen within 6 s"
    assert_error(r, 10105)
    # auth errors come before body checks
    assert_error(server.send(b"nope", token=a["token"],
                             account=a["account"]), 10105)


def test_10203_account_sending_disabled(server):
    dom = "dis-" + secrets.token_hex(3) + ".test"
    a = server.new_account(domain=dom)
    body = simple(**{"from": "x@" + dom})
    server.cli("account", "set", a["account"], "--sending-enabled", "false",
               json_out=False)
    r = _until(server, lambda: server.send(body, token=a["token"],
                                           account=a["account"]), 403)
    assert r, "sending-enabled change not seen within 6 s"
    assert_error(r, 10203)
    assert_human(r, "disabled for this account", a["account"])
    raw = dict(RAW, **{"from": "x@" + dom})
    raw["mime_message"] = raw["mime_message"].replace("sender@example.com",
                                                      "x@" + dom)
    assert_error(server.send_raw(raw, token=a["token"],
                                 account=a["account"]), 10203)
    # order: content rules (10202) and sender domain (10204) come first
    assert_error(server.send(simple(**{"from": "x@" + dom,
                                       "to": "a@@b.example"}),
                             token=a["token"], account=a["account"]), 10202)
    assert_error(server.send(simple(**{"from": "x@unknown-domain.test"}),
                             token=a["token"], account=a["account"]), 10204)


def test_10203_domain_disabled(server):
    dom = "offdom-" + secrets.token_hex(3) + ".test"
    zone = server.cli("zone", "create", server.account, dom)["id"]
    server.cli("domain", "create", zone, dom)
    body = simple(**{"from": "x@" + dom})
    assert_send_result(server.send(body))
    server.cli("domain", "set", dom, "--enabled", "false", json_out=False)
    r = _until(server, lambda: server.send(body), 403)
    assert r, "domain disable not seen within 6 s"
    assert_error(r, 10203)
    assert_human(r, "disabled for '%s'" % dom, "domain set")
    # the other domain of the account still works
    assert_send_result(server.send(simple()))


# -- 10204 --------------------------------------------------------------------
@pytest.mark.parametrize("frm", ["a@not-onboarded.test", "a@sub.example.com",
                                 "a@example.co"])
def test_10204_sender_not_configured(server, frm):
    r = server.send(simple(**{"from": frm}))
    assert_error(r, 10204)


def test_10204_other_accounts_domain(server, other):
    r = server.send(simple(**{"from": "x@example.com"}),
                    token=other["token"], account=other["account"])
    assert_error(r, 10204)


def test_10204_send_raw(server):
    b = dict(RAW, **{"from": "a@not-onboarded.test"})
    assert_error(server.send_raw(b), 10204)


# -- 10000 / 10003 ------------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("GET", "/"),
])
def test_10000_route_not_built_says_so(server, method, path):
    """SPEC routes pigeon does not serve yet: 404/10000, and the sentence
    tells a client it is not their URL that is wrong."""
    p = path if path.startswith("/") else server.apath(path)
    r = server.request(method, p, prefix=True)
    assert_error(r, 10000)
    assert_human(r, "not built in pigeon")


@pytest.mark.parametrize("tail", ["nope", "send/extra", "sendx", "SEND",
                                  "send_raw/x"])
def test_10000_unknown_route(server, tail):
    r = server.request("POST", server.apath(tail), simple(), prefix=True)
    assert_error(r, 10000)
    r = server.request("POST", server.apath(tail), simple())
    assert_error(r, 10000)


def test_10000_unknown_message(server):
    r = server.message("<" + "A" * 36 + "@example.com>")
    assert_error(r, 10000)


@pytest.mark.parametrize("tail", ["send", "send_raw"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_10003_method_not_allowed(server, tail, method):
    r = server.request(method, server.apath(tail), None, prefix=True)
    assert_error(r, 10003)
    allow = r.headers.get("Allow", "")
    assert "POST" in [a.strip() for a in allow.split(",")], allow


# -- ignore unknown request headers (SDKs send these) -------------------------
def test_sdk_headers_ignored(server):
    r = server.send(simple(), headers={
        "api-version": "2024-01-01", "X-Stainless-Lang": "js",
        "X-Stainless-Retry-Count": "0", "User-Agent": "Cloudflare/JS 7.3.0"})
    assert_send_result(r)


def test_content_type_not_required(server):
    r = server.send(json.dumps(simple()).encode())
    assert_send_result(r)

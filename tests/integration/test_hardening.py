"""
Hardening tests — durability of acknowledged sends, suspend/resume
around the queue, and hostile inputs (SPEC §2–§5). Each test names the
defect it demonstrates or the behaviour it guards.
"""
import concurrent.futures
import json
import os
import socket
import sqlite3
import time

import pytest

from conftest import SENDER, assert_error, assert_human, simple, vm_kib


def mime(mid=None, extra=()):
    hs = ["From: sender@example.com", "To: rcpt@example.net", "Subject: Hi"]
    if mid:
        hs.append("Message-ID: " + mid)
    hs.extend(extra)
    return "\r\n".join(hs) + "\r\n\r\nHello"


def raw_body(mid=None, rcpt="rcpt@example.net"):
    return {"from": SENDER, "recipients": [rcpt], "mime_message": mime(mid)}


def send_body(to="rcpt@example.net", **kw):
    b = {"from": SENDER, "to": to, "subject": "review", "text": "hi"}
    b.update(kw)
    return b


def raw_http(port, data, timeout=10, shutdown=False):
    """Writes data as is on a fresh connection, returns all bytes read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_of(resp):
    if not resp.startswith(b"HTTP/1."):
        return None
    return int(resp.split(b" ", 2)[1])


# --- 1. acknowledged sends, duplicates, durability ---------------------------

def test_send_raw_repeated_client_message_id_is_not_a_retryable_503(server):
    """A client that sends the same raw message twice (same Message-ID:
    a retry after a timeout, a resend) must not be told 'try again'
    forever: UNIQUE(account_id, message_id) in messages makes the insert
    fail, the group commit rolls back and the answer is 503/10002
    (retryable) — every retry fails the same way."""
    mid = "<dup-%s@example.com>" % os.urandom(6).hex()
    r1 = server.send_raw(raw_body(mid))
    assert r1.status == 200, r1
    r2 = server.send_raw(raw_body(mid))
    assert r2.status != 503, (
        "a repeated client Message-ID gets a retryable 503 that can "
        "never succeed: %r" % r2)


def test_duplicate_message_id_does_not_fail_other_clients_sends(server):
    """One send_raw with an already-used Message-ID is inserted in the
    same group commit as other clients' sends: its UNIQUE failure rolls
    back the whole batch, so unrelated, valid sends get 503 too."""
    mid = "<poison-%s@example.com>" % os.urandom(6).hex()
    assert server.send_raw(raw_body(mid)).status == 200
    bad = []
    deadline = time.time() + 20

    def good(i):
        return server.send(send_body("good%d@example.net" % i))

    def poison(i):
        return server.send_raw(raw_body(mid))

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for rnd in range(15):
            if time.time() > deadline:
                break
            fs = [ex.submit(good, i) for i in range(12)]
            fs += [ex.submit(poison, i) for i in range(4)]
            for f in fs[:12]:
                r = f.result()
                if r.status != 200:
                    bad.append(r)
            for f in fs[12:]:
                f.result()
            if bad:
                break
    assert not bad, ("valid sends failed because another client's send in "
                     "the same group commit violated UNIQUE: %r" % bad[:2])


def test_sigterm_with_sends_in_flight_answers_every_client(make_server):
    """api_stop waits until api->inflight is 0, but inflight drops in
    on_request when the response is *queued*, not when it is written;
    MHD_stop_daemon then closes the connections. A send that was
    committed may reach its client as a reset instead of 200, and the
    client's retry sends the message twice. Every client whose send was
    in flight at SIGTERM must read a complete HTTP answer."""
    s = make_server("sigterm_inflight", send_wait_ms=3000,
                    capture_slow_ms=20000).start()
    n = 12

    def one(i):
        try:
            r = s.send(send_body("slow%d@example.net" % i), timeout=20)
            return ("http", r.status, r.json)
        except Exception as e:  # connection reset, empty reply
            return ("exc", repr(e), None)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        fs = [ex.submit(one, i) for i in range(n)]
        time.sleep(1.0)  # all are waiting for their first attempt
        s.proc.send_signal(15)
        res = [f.result() for f in fs]
    rc = s.proc.wait(timeout=30)
    s.proc = None
    assert rc == 0, rc
    lost = [r for r in res if r[0] != "http"]
    assert not lost, ("%d of %d clients whose send was in flight at SIGTERM "
                      "got no HTTP answer: %r" % (len(lost), n, lost[:3]))
    for kind, st, j in res:
        assert st in (200, 503), (st, j)


# --- 2. suspend/resume and the request refcount ---------------------------

def _post_bytes(s, path, body, extra=b""):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + s.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
            body)


def test_client_disconnects_while_send_waits(server):
    """Clients that hang up while their send is suspended (waiting for
    the first attempt) must not crash the server or leak the request;
    the messages are still durable and delivered."""
    path = "/client/v4" + server.apath("send")
    socks = []
    for i in range(10):
        body = json.dumps(send_body("slow-gone%d@example.net" % i)).encode()
        c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        c.sendall(_post_bytes(server, path, body))
        socks.append(c)
    time.sleep(0.3)
    for c in socks:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST
    time.sleep(2.5)  # send_wait_ms 2000: every waiter has answered
    r = server.request("GET", "/healthz", auth=False)
    assert r.status == 200
    r = server.send(send_body())
    assert r.status == 200, r


def test_pipelined_sends_on_one_connection(server):
    """Two sends pipelined on one keep-alive connection: the second is
    read while the first is suspended; both get their own answer, in
    order."""
    path = "/client/v4" + server.apath("send")
    b1 = json.dumps(send_body("pipe1@example.net")).encode()
    b2 = json.dumps(send_body("pipe2@example.net")).encode()
    out = raw_http(server.port, _post_bytes(server, path, b1) +
                   _post_bytes(server, path, b2,
                               b"Connection: close\r\n"), timeout=10)
    assert out.count(b"HTTP/1.1 200") == 2, out[:2000]
    assert out.index(b"pipe1@") < out.index(b"pipe2@"), out[:2000]


# --- 4. hostile inputs -------------------------------------------------

def test_content_length_larger_than_body_then_close(server):
    """A body shorter than its Content-Length, then EOF: no answer is
    possible, but the server must stay up and keep serving."""
    path = "/client/v4" + server.apath("send")
    body = json.dumps(send_body()).encode()
    req = _post_bytes(server, path, body).replace(
        b"Content-Length: %d" % len(body), b"Content-Length: %d" %
        (len(body) + 1000))
    for _ in range(20):
        raw_http(server.port, req, timeout=2, shutdown=True)
    assert server.request("GET", "/healthz", auth=False).status == 200
    assert server.send(send_body()).status == 200


def test_content_length_smaller_than_body(server):
    """Extra bytes after Content-Length are the next request: they must
    not become part of this body, and garbage there is a 400, not a
    crash."""
    path = "/client/v4" + server.apath("send")
    body = json.dumps(send_body()).encode()
    req = _post_bytes(server, path, body) + b"GARBAGE\x00\xff\r\n\r\n"
    out = raw_http(server.port, req, timeout=5)
    assert out.startswith(b"HTTP/1.1 200"), out[:300]
    assert server.request("GET", "/healthz", auth=False).status == 200


@pytest.mark.parametrize("cl", [b"-1", b"1e3", b"+10", b"0x10",
                                b"99999999999999999999999", b"10, 10"])
def test_bad_content_length_values(server, cl):
    """Odd Content-Length values: an answer (400), never a crash or a
    hang."""
    path = "/client/v4" + server.apath("send")
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + server.token.encode() + b"\r\n"
           b"Content-Length: " + cl + b"\r\n\r\n{}")
    out = raw_http(server.port, req, timeout=5, shutdown=True)
    st = status_of(out)
    assert st is not None and 400 <= st < 500, out[:300]
    assert server.request("GET", "/healthz", auth=False).status == 200


def test_chunked_send_is_10201(server):
    path = "/client/v4" + server.apath("send")
    body = json.dumps(send_body()).encode()
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + server.token.encode() + b"\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
           b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    out = raw_http(server.port, req, timeout=5)
    assert status_of(out) == 400 and b"10201" in out, out[:400]


def test_slow_partial_bodies_do_not_block_others(server):
    """Slowloris: 40 connections that announce a body and send half of
    it. Other clients must still be served promptly."""
    path = "/client/v4" + server.apath("send")
    body = json.dumps(send_body()).encode()
    req = _post_bytes(server, path, body)
    socks = []
    try:
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", server.port),
                                         timeout=5)
            c.sendall(req[:len(req) - 10])
            socks.append(c)
        t0 = time.time()
        r = server.send(send_body(), timeout=10)
        assert r.status == 200, r
        assert time.time() - t0 < 3
    finally:
        for c in socks:
            c.close()


@pytest.mark.parametrize("field,value", [
    ("subject", "a\u0000b"),
    ("to", "rcpt\u0000@example.net"),
    ("from", "sender@example.com\u0000x"),
    ("reply_to", "r@example.net\u0000"),
    ("headers", {"X-Nul": "a\u0000b"}),
])
def test_nul_in_json_strings_is_rejected(server, field, value):
    """SPEC §3.1/§5: no NUL in addresses, header names or values; a NUL
    in subject/text/html must never truncate the stored message silently
    — it is a 400."""
    r = server.send(send_body(**{field: value}))
    assert r.status == 400, ("NUL in %s accepted: %r" % (field, r))


def test_nul_in_header_name_is_rejected(server):
    """SPEC §5: header names are X-[A-Za-z0-9_-]+ or allowlisted; json-c
    keys are C strings, read_headers uses strlen(name), so 'X-N\\u0000ul'
    passes as 'X-N' and the message carries a header the client did not
    write."""
    r = server.send(send_body(headers={"X-N\u0000ul": "ab"}))
    assert_error(r, 10202)


def test_nul_in_text_is_encoded_not_truncated(server):
    """Guard: a NUL in text/html survives as quoted-printable =00 (RFC
    2045 §6.7), the rest of the body is not cut off."""
    r = server.send(send_body(text="line\u0000more", html="<p>x\u0000y</p>"))
    assert r.status == 200, r
    raw = server.message(r.json["result"]["message_id"]).raw
    assert b"line=00more" in raw and b"<p>x=00y</p>" in raw, raw[-400:]
    assert b"\x00" not in raw


def test_deep_json_nesting(server):
    body = ("[" * 100000) + ("]" * 100000)
    r = server.send(body)
    assert_error(r, 10001)
    body = '{"from":"sender@example.com","x":' + ("{\"a\":" * 5000) + \
        "1" + ("}" * 5000) + ',"to":"a@example.net","subject":"s",' \
        '"text":"t"}'
    r = server.send(body)
    assert r.status in (200, 400), r


def test_huge_header_is_answered(server):
    """A 200 KB header line: MHD answers 431/413/400 itself; the server
    lives on."""
    path = "/client/v4" + server.apath("send")
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"X-Big: " + b"a" * 200000 + b"\r\n"
           b"Content-Length: 2\r\n\r\n{}")
    try:
        raw_http(server.port, req, timeout=5)
    except OSError:
        pass
    assert server.request("GET", "/healthz", auth=False).status == 200


def test_many_headers(server):
    hs = {"X-H%d" % i: "v" for i in range(500)}
    try:
        r = server.send(send_body(), headers=hs)
        assert r.status in (200, 400, 413, 431), r
    except OSError:
        pass
    assert server.request("GET", "/healthz", auth=False).status == 200


def test_early_answer_body_is_not_parsed_as_a_request(server):
    """A POST answered before its body is read (401 here) must not let
    the body be read as the next request on the connection (request
    smuggling): exactly one response comes back."""
    path = "/client/v4" + server.apath("send")
    inner = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer nope\r\n"
           b"Content-Length: " + str(len(inner)).encode() + b"\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        s.sendall(req)
        time.sleep(0.3)  # the early answer goes out first
        try:
            s.sendall(inner)
        except OSError:
            pass
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, OSError):
                break
            if not c:
                break
            out += c
    finally:
        s.close()
    assert out.startswith(b"HTTP/1.1 401"), out[:300]
    assert out.count(b"HTTP/1.1 ") == 1, out


def test_client_message_id_with_slash_can_be_fetched(server):
    """send_raw keeps a client Message-ID; '/' is legal in its left part
    (RFC 5322 §3.6.4 dot-atom-text). GET messages/{id} with the id
    URL-encoded must find it (MHD decodes %2F before routing)."""
    mid = "<a/b-%s@example.com>" % os.urandom(4).hex()
    r = server.send_raw(raw_body(mid))
    assert r.status == 200, r
    assert r.json["result"]["message_id"] == mid
    g = server.message(mid)
    assert g.status == 200, g
    st = server.status(mid)
    assert st.status == 200, st


def test_idle_connections_do_not_lock_out_clients(server):
    """Many connections: 1100 idle sockets from one peer (each well
    inside CONNECTION_TIMEOUT) must not keep a real client from being
    served; MHD's default connection limit (FD_SETSIZE - 4) and no
    per-IP limit turn this into a 30 s lock-out that a peer can renew."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    socks = []
    t0 = time.time()
    try:
        for _ in range(1100):
            if time.time() - t0 > 10:
                break
            try:
                socks.append(socket.create_connection(
                    ("127.0.0.1", server.port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        try:
            r = server.request("GET", "/healthz", auth=False, timeout=5)
            ok = r.status == 200
        except OSError as e:
            ok = False
        assert ok, ("with %d idle connections open, a new client is not "
                    "served" % len(socks))
    finally:
        for c in socks:
            c.close()
    time.sleep(0.5)
    assert server.request("GET", "/healthz", auth=False).status == 200


@pytest.mark.parametrize("wait_ms", [0, 2000])
def test_concurrent_sends_all_answered(make_server, wait_ms):
    """Suspend/resume under load: with send_wait_ms 0 the queue callback
    resumes the connection right after the commit, often before the MHD
    thread has returned from the handler that suspended it. Every send
    must be answered 200, none may hang, and each message is durable."""
    s = make_server("conc%d" % wait_ms, send_wait_ms=wait_ms).start()
    n, workers = 300, 24
    t0 = time.time()

    def one(i):
        if time.time() - t0 > 40:
            return None
        to = ["c%d@example.net" % i, "bounce%d@example.net" % i,
              "defer%d@example.net" % i]
        return s.send(send_body(to), timeout=15)

    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        res = list(ex.map(one, range(n)))
    done = [r for r in res if r is not None]
    assert len(done) > 50
    bad = [r for r in done if r.status != 200]
    assert not bad, bad[:3]
    ids = set()
    for r in done:
        res_ = r.json["result"]
        ids.add(res_["message_id"])
        got = sorted(res_["delivered"] + res_["permanent_bounces"] +
                     res_["queued"] + res_["suppressed_recipients"])
        assert len(got) == 3, res_
        if wait_ms:
            assert len(res_["delivered"]) == 1, res_
            assert len(res_["permanent_bounces"]) == 1, res_
    assert len(ids) == len(done)
    for mid in list(ids)[:20]:
        assert s.status(mid).status == 200


@pytest.mark.parametrize("field", ["to", "from", "reply_to"])
def test_error_message_is_valid_utf8(server, field):
    """SPEC §2.1: the body is JSON (RFC 8259 §8.1: UTF-8). jsonreq quotes
    at most SHOW_MAX (100) bytes of the client's value with '%.*s', which
    can cut a multi-byte character in two: the error body is then not
    UTF-8 and strict clients (Python json.loads on bytes, httpx in the
    Python SDK) fail to read the error."""
    bad = "a" + "\u00e9" * 80 + "@@example.net"  # 'é' is 2 bytes
    r = server.send(send_body(**{field: bad}))
    assert r.status == 400, r
    r.raw.decode("utf-8")  # raises on a cut character


def test_error_message_is_valid_utf8_name_addr(server):
    bad = "J" + "\u00e9" * 70 + " <jane@example.net>"
    r = server.send(send_body(to=bad))
    assert_error(r, 10001)
    r.raw.decode("utf-8")


def test_new_connection_during_drain_is_refused_not_hung(make_server):
    """api_stop calls MHD_quiesce_daemon and ignores the listen socket it
    returns (the caller must close it): the kernel keeps completing
    handshakes on it while api_stop waits for sends in flight, and those
    clients hang unanswered until the process exits. A client that
    connects during the drain should be refused (or served), at once."""
    s = make_server("drain", send_wait_ms=4000,
                    capture_slow_ms=20000).start()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        f = ex.submit(lambda: s.send(send_body("slowdrain@example.net"),
                                     timeout=20))
        time.sleep(0.7)
        s.proc.send_signal(15)
        time.sleep(0.5)  # api_stop is now waiting for the send
        t0 = time.time()
        outcome = None
        try:
            r = s.request("GET", "/healthz", auth=False, timeout=2)
            outcome = "served %d" % r.status
        except ConnectionRefusedError:
            outcome = "refused"
        except (socket.timeout, TimeoutError) as e:
            outcome = "hung"
        except OSError as e:
            outcome = "error " + repr(e)
        assert f.result().status == 200
    s.proc.wait(timeout=30)
    s.proc = None
    assert outcome in ("refused", "served 200"), (
        "a client connecting while the server drains: %s after %.1fs" %
        (outcome, time.time() - t0))


def test_chunked_with_content_length_is_refused(server):
    """Transfer-Encoding: chunked together with Content-Length (RFC 9112
    §6.3: chunked wins, the CL is a smuggling signal): the request is not
    framed by a Content-Length, so SPEC §2.2 says 10201 (or a plain 400),
    never a send."""
    path = "/client/v4" + server.apath("send")
    body = json.dumps(send_body()).encode()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + server.token.encode() + b"\r\n"
           b"Content-Length: " + str(len(chunked)).encode() + b"\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
           chunked)
    out = raw_http(server.port, req, timeout=5)
    st = status_of(out)
    assert st is not None and st >= 400, out[:400]


def test_send_on_keepalive_connection_during_drain_is_503(make_server):
    """Guard: after SIGTERM a send that arrives on an already open
    keep-alive connection is refused with 503/10002 and Retry-After while
    the drain lasts, or finds the connection closed once it is over:
    either way nothing is queued, and nothing is left hanging."""
    import http.client
    s = make_server("drain_ka", send_wait_ms=3000,
                    capture_slow_ms=20000).start()
    ka = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    ka.request("GET", "/healthz")
    assert ka.getresponse().read()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        f = ex.submit(lambda: s.send(send_body("slowka@example.net"),
                                     timeout=20))
        time.sleep(0.7)
        s.proc.send_signal(15)
        time.sleep(0.5)
        body = json.dumps(send_body("during-drain@example.net"))
        try:
            ka.request("POST", "/client/v4" + s.apath("send"), body=body,
                       headers={"Authorization": "Bearer " + s.token,
                                "Content-Type": "application/json"})
            r = ka.getresponse()
            raw = r.read()
            assert r.status == 503, raw
            assert json.loads(raw)["errors"][0]["code"] == 10002
            assert r.getheader("Retry-After"), r.headers
        except (BrokenPipeError, ConnectionResetError,
                http.client.RemoteDisconnected):
            pass  # the drain was over: the connection is closed
        # the send that was waiting is answered (SIGTERM does not wait
        # for its slow attempt), and it is durable
        assert f.result().status == 200
    ka.close()
    assert s.proc.wait(timeout=30) == 0
    s.proc = None
    s.start()
    c = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))
    try:
        n = c.execute("SELECT count(*) FROM recipients WHERE address = ?",
                      ("during-drain@example.net",)).fetchone()[0]
    finally:
        c.close()
    assert n == 0


def test_sigterm_after_clients_hung_up_mid_send(make_server):
    """Clients RST while their sends are suspended, then SIGTERM before
    the waiters answer: the drain must still end (inflight reaches 0 via
    on_completed), exit 0, with no sanitizer report; the sends are
    durable and delivered after a restart."""
    s = make_server("gone_term", send_wait_ms=3000,
                    capture_slow_ms=20000).start()
    path = "/client/v4" + s.apath("send")
    socks = []
    for i in range(8):
        body = json.dumps(send_body("slowgone%d@example.net" % i)).encode()
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(_post_bytes(s, path, body))
        socks.append(c)
    time.sleep(0.5)
    for c in socks:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    s.proc.send_signal(15)
    t0 = time.time()
    assert s.proc.wait(timeout=30) == 0
    assert time.time() - t0 < 15
    s.proc = None
    s.start()
    assert s.request("GET", "/healthz", auth=False).status == 200


def test_request_path_cannot_forge_log_lines(server):
    """http.c on_completed logs path=%s with the percent-decoded path: a
    %0A in the URL writes a line of the client's choosing into the log
    (log forging). The path should be escaped or cut at a control
    character."""
    marker = "forged-%s" % os.urandom(4).hex()
    r = server.request("GET", "/healthz%0A" + marker + "%20info%20ok",
                       auth=False)
    assert r.status == 404
    time.sleep(0.2)
    lines = server.stderr().splitlines()
    assert not any(l.startswith(marker) for l in lines), \
        [l for l in lines if marker in l]


# -- JSON amplification (jsonreq_scan) ----------------------------------------
def empty_objects(size, wrap="%s"):
    """A body of about size bytes: wrap around [{},{},...]."""
    n = (size - len(wrap)) // 3
    return (wrap % ("[" + ",".join(["{}"] * n) + "]")).encode()


def test_json_amplification_is_refused_before_parsing(make_server):
    """A body of empty objects cost json-c 265 times its size (800 bytes
    an object): 1 MiB took 265 MiB of RSS, 7 MiB about 2 GB, held after
    the 400. Bodies with far more values than a send can use are refused
    with 10001 before any tree is built; memory stays flat."""
    s = make_server("amplification").start()
    MiB = 1024 * 1024
    assert s.send(simple()).status == 200  # warm: threads, store, DKIM
    rss0 = vm_kib(s)
    bodies = [
        (empty_objects(MiB), "array of more than 400"),
        (empty_objects(6 * MiB, '{"to":%s}'), "array of more than 400"),
        # arrays of 399: the count of values, not one array's length
        (("{" + ",".join('"k%d":[' % i + ",".join(["{}"] * 399) + "]"
                         for i in range(2000)) + "}").encode(),
         "more than 5626 JSON values"),
        (("{" + ",".join('"k%d":{}' % i for i in range(200000)) +
          "}").encode(), "more than 5626 JSON values"),
    ]
    for body, why in bodies:
        t0 = time.time()
        r = s.send(body, timeout=60)
        took = time.time() - t0
        grew = (vm_kib(s, "VmHWM") - rss0) // 1024
        assert grew < 128, "peak RSS %d MiB over the start after %d " \
            "bytes" % (grew, len(body))
        assert took < 3, "%d bytes took %.1f s" % (len(body), took)
        assert_error(r, 10001, "")
        assert_human(r, why)
    # and comes back down: the bodies themselves are given back
    assert s.wait_for(lambda: vm_kib(s) - rss0 < 48 * 1024, timeout=5), \
        "RSS %d MiB over the start" % ((vm_kib(s) - rss0) // 1024)
    r = s.send(simple())
    assert r.status == 200, r


def test_largest_valid_body_is_accepted(server):
    """Guard for the bounds: every limit of the schema at once (50 named
    recipients, repeated in cc and bcc, 100 attachments, 1400 headers)
    is not taken for amplification."""
    to = [{"address": "r%02d@example.net" % i, "name": "R %d" % i}
          for i in range(50)]
    atts = [{"content": "aGk=", "filename": "f%d.txt" % i,
             "type": "text/plain", "disposition": "inline",
             "content_id": "c%d" % i} for i in range(100)]
    hs = {"X-%04d" % i: "v" for i in range(1400)}
    r = server.send(simple(to=to, cc=to[::-1], bcc=[t["address"] for t in to],
                           reply_to={"address": "r@example.net",
                                     "name": "R"},
                           html="<p>hi</p>", attachments=atts, headers=hs))
    assert r.status == 200, r
    assert len(r.json["result"]["queued"] + r.json["result"]["delivered"] +
               r.json["result"]["permanent_bounces"]) == 50, r


@pytest.mark.parametrize("to", [
    "bob@example.net\r\nRCPT TO:<x@y.z>",
    {"address": "bob@example.net\nBcc: <x@y.z>", "name": "Bob"},
    ["ok@example.net", "bob@example.net\r<x@y.z>"],
])
def test_address_with_crlf_is_invalid_not_schema(server, to):
    """SPEC §2.2: a bad address is 10202. One with CR or LF that ends
    in <...> was taken for a display name (10001)."""
    r = server.send(simple(to=to))
    assert_error(r, 10202)
    assert_human(r, "CR, LF")

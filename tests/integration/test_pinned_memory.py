"""
Memory and time a client can pin (DESIGN "The HTTP front", "The store"):
bodies announced but not sent, messages asked for but not read, and
requests that trickle in. Each test keeps to 127.0.0.1 and a few
seconds.
"""
import json
import os
import socket
import sqlite3
import time

from conftest import SENDER, rss_bound, vm_kib

MiB = 1024 * 1024


def post_head(server, length, route="send", extra=b""):
    path = "/client/v4" + server.apath(route)
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + server.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % length)


def read_answer(c, timeout=5):
    """What the server wrote before closing or going quiet."""
    c.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and out.endswith(b"}"):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def open_partial(server, announce, send):
    """A connection that announces a body of announce bytes and sends
    send of them; None when the server refused it before the body."""
    c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    c.sendall(post_head(server, announce))
    try:
        c.sendall(b" " * send)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return c


def test_announced_bodies_are_bounded(make_server):
    """Finding (a): the whole Content-Length was reserved on arrival of
    the headers and every byte sent kept: 200 connections announcing
    7 MiB and sending 1 MiB each held 200 MiB. Past max_inflight_body
    (256 MiB: 36 such bodies) the rest are refused before their body is
    read; what is held stays near the bodies admitted."""
    s = make_server("pin-bodies").start()
    rss0 = vm_kib(s)
    socks = []
    try:
        for _ in range(200):
            socks.append(open_partial(s, 7 * MiB, MiB))
        time.sleep(1.0)
        grew = (vm_kib(s) - rss0) // 1024
        assert grew < rss_bound(s, 128), \
            "RSS grew %d MiB for 200 partial bodies" % grew
        refused = 0
        for c in socks:
            c.settimeout(0.05)
            try:
                if c.recv(16).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except (socket.timeout, ConnectionResetError):
                pass
        assert refused >= 150, "only %d of 200 refused" % refused
    finally:
        for c in socks:
            c.close()
    # and the budget is given back when they leave
    assert s.wait_for(lambda: s.send({"from": SENDER, "to": "r@example.net",
                                      "subject": "s", "text": "t"}
                                     ).status == 200, timeout=5)


def test_past_the_budget_is_503_before_the_body(make_server):
    """A request whose Content-Length does not fit in what is left of
    max_inflight_body is answered 503/10002 with Retry-After at once,
    without its body, and its connection closed; a small one that fits
    is served, and once the holders leave the large one fits again."""
    s = make_server("pin-budget", max_inflight_body=16 * MiB).start()
    holders = [open_partial(s, 7 * MiB, 64 * 1024) for _ in range(2)]
    try:
        time.sleep(0.3)
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(post_head(s, 7 * MiB))  # headers only
        out = read_answer(c)
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), out[:300]
        assert b"\r\nRetry-After: " in head, head
        assert b"\r\nConnection: close" in head, head
        assert json.loads(body)["errors"][0]["code"] == 10002, body
        c.settimeout(5)
        try:
            assert c.recv(1) == b"", "the connection stays open"
        except ConnectionResetError:
            pass
        c.close()
        # 2 MiB are left: an ordinary send still fits
        r = s.send({"from": SENDER, "to": "r@example.net", "subject": "s",
                    "text": "t"})
        assert r.status == 200, r
        big = {"from": SENDER, "to": "r@example.net", "subject": "s",
               "text": "x" * (3 * MiB)}
        c = open_partial(s, len(json.dumps(big)), 0)
        assert read_answer(c).startswith(b"HTTP/1.1 503"), "3 MiB fit"
        c.close()
    finally:
        for h in holders:
            h.close()
    assert s.wait_for(lambda: s.send(big).status == 200, timeout=5)


def big_raw_message(size):
    """A MIME message of about size bytes with varied body lines."""
    line = bytes(range(0x21, 0x7f)) + b"\r\n"
    body = (line * (size // len(line) + 1))[:size]
    head = (b"From: sender@example.com\r\nTo: rcpt@example.net\r\n"
            b"Subject: big\r\n\r\n")
    return (head + body).decode()


def stored_raw(server, message_id):
    db = sqlite3.connect(os.path.join(server.state_dir, "pigeon.db"))
    try:
        return db.execute("SELECT raw FROM messages WHERE message_id = ? "
                          "ORDER BY id DESC LIMIT 1",
                          (message_id,)).fetchone()[0]
    finally:
        db.close()


def get_head(server, message_id):
    import urllib.parse
    path = "/client/v4" + server.apath(
        "messages/" + urllib.parse.quote(message_id, safe=""))
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + server.token.encode() + b"\r\n\r\n")


def test_streamed_message_is_the_stored_bytes(make_server):
    """GET messages/{id} is streamed from the store in blocks: what comes
    back is the stored message byte for byte, with its Content-Length,
    read quickly or slowly."""
    s = make_server("pin-stream").start()
    r = s.send_raw({"from": SENDER, "recipients": ["r@example.net"],
                    "mime_message": big_raw_message(3 * MiB)}, timeout=30)
    assert r.status == 200, r
    mid = r.json["result"]["message_id"]
    want = stored_raw(s, mid)
    assert len(want) > 3 * MiB
    got = s.message(mid, timeout=30)
    assert got.status == 200, got
    assert got.headers["Content-Length"] == str(len(want))
    assert got.raw == want
    # a slow reader (small window, reads in small pieces) of a smaller
    # message gets the same bytes
    r = s.send_raw({"from": SENDER, "recipients": ["r@example.net"],
                    "mime_message": big_raw_message(512 * 1024)})
    small = stored_raw(s, r.json["result"]["message_id"])
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    c.sendall(get_head(s, r.json["result"]["message_id"]))
    out = b""
    while len(out.partition(b"\r\n\r\n")[2]) < len(small):
        chunk = c.recv(8192)
        if not chunk:
            break
        out += chunk
    c.close()
    assert out.partition(b"\r\n\r\n")[2] == small
    r = s.request("HEAD", s.apath("messages/" + mid.strip("<>")),
                  prefix=True)
    assert r.status == 200 and r.raw == b"", r
    assert r.headers["Content-Length"] == str(len(want))


def test_unread_messages_are_not_pinned(make_server):
    """Finding (b): GET messages/{id} copied the whole message into a
    response that lived until the client read it: 100 clients that ask
    for a 5 MiB message and never read held about 500 MiB. Streamed,
    each holds a block."""
    s = make_server("pin-unread").start()
    r = s.send_raw({"from": SENDER, "recipients": ["r@example.net"],
                    "mime_message": big_raw_message(5 * MiB - 64 * 1024)},
                   timeout=30)
    assert r.status == 200, r
    mid = r.json["result"]["message_id"]
    assert s.message(mid, timeout=30).status == 200  # warm
    time.sleep(0.3)
    rss0 = vm_kib(s)
    socks = []
    try:
        req = get_head(s, mid)
        for _ in range(100):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.settimeout(5)
            c.connect(("127.0.0.1", s.port))
            c.sendall(req)
            socks.append(c)
        time.sleep(1.5)
        grew = (vm_kib(s) - rss0) // 1024
        assert grew < rss_bound(s, 128), \
            "RSS grew %d MiB for 100 unread messages" % grew
        # the server still answers others
        assert s.request("GET", "/healthz", auth=False,
                         timeout=5).status == 200
    finally:
        for c in socks:
            c.close()


def test_trickled_body_is_cut_at_request_timeout(make_server):
    """Finding (c): the connection timeout restarted with every byte, so
    a body sent one byte a second held its connection (and its memory)
    forever. Past request_timeout the connection is closed."""
    s = make_server("pin-slow", request_timeout="2s").start()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.sendall(post_head(s, 1000))
    t0 = time.time()
    closed = None
    try:
        while time.time() - t0 < 6:
            c.sendall(b" ")
            c.settimeout(0.5)
            try:
                if c.recv(1) == b"":
                    closed = time.time() - t0
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        closed = time.time() - t0
    finally:
        c.close()
    assert closed is not None, "a trickled body was still read after 6 s"
    assert 1.5 <= closed < 4, closed
    # an ordinary send is not affected
    assert s.send({"from": SENDER, "to": "r@example.net", "subject": "s",
                   "text": "t"}).status == 200


def test_silent_body_is_cut_at_request_timeout(make_server):
    """A body that stops arriving is closed at request_timeout, not
    after the 30 s idle timeout."""
    s = make_server("pin-silent", request_timeout="2s").start()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=6)
    c.sendall(post_head(s, 1000) + b" " * 10)
    t0 = time.time()
    try:
        c.recv(1)
    except (socket.timeout, ConnectionResetError):
        pass
    took = time.time() - t0
    c.close()
    assert took < 4, "a silent body held its connection %.1f s" % took

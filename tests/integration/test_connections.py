"""
Connections one client can hold (DESIGN "The HTTP front"): the per-address
cap (max_connections_per_ip) that keeps room for everyone else, and the
header deadline (header_timeout) that cuts off a header section sent one
byte at a time. Clients use 127.0.0.1 and 127.0.0.2 only; each test takes
a few seconds.
"""
import contextlib
import re
import resource
import select
import socket
import subprocess
import time

import pytest


def idle_sockets(server, n, source="127.0.0.1"):
    """n connections from source that send nothing (connect only)."""
    out = []
    for _ in range(n):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.bind((source, 0))
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", server.port))
        out.append(c)
    return out


def healthz_from(server, source, timeout=1.0):
    """GET /healthz from a client bound to source: the status line, or
    None when no answer came within timeout."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        c.bind((source, 0))
        c.settimeout(timeout)
        deadline = time.monotonic() + timeout
        c.connect(("127.0.0.1", server.port))
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        out = b""
        while b"\r\n" not in out:
            c.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = c.recv(4096)
            if not chunk:
                break
            out += chunk
        return out.split(b"\r\n", 1)[0].decode() or None
    except (socket.timeout, OSError):
        return None
    finally:
        c.close()


def closed_by_peer(c, timeout=2.0):
    """1 when the server closed c (EOF or reset) within timeout."""
    c.setblocking(True)
    c.settimeout(timeout)
    try:
        return c.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def closed_now(socks, wait=1.0):
    """(closed, answered): how many of socks the server has closed (EOF
    or reset) within wait, and how many of those were first answered 503
    (a connection past a cap is answered so, and closed)."""
    n = answered = 0
    deadline = time.monotonic() + wait
    left = list(socks)
    while left and time.monotonic() < deadline:
        ready, _, _ = select.select(left, [], [], 0.1)
        for c in ready:
            left.remove(c)
            try:
                got = c.recv(65536)
            except ConnectionResetError:
                n += 1
                continue
            except BlockingIOError:
                left.append(c)
                continue
            if got.startswith(b"HTTP/1.1 503 "):
                assert b'"code":10002' in got, got
                answered += 1
                n += 1
            elif got == b"":
                n += 1
    return n, answered


def read_response(c):
    """One HTTP answer from c (its body by Content-Length)."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = c.recv(4096)
        assert chunk, "closed mid-answer: %r" % out
        out += chunk
    head, body = out.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        body += c.recv(4096)
    return head


def close_all(socks):
    for c in socks:
        with contextlib.suppress(OSError):
            c.close()


@pytest.fixture
def nofile():
    """Room for a few thousand sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield want
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_per_ip_cap_keeps_room_for_others(make_server):
    """200 idle sockets from 127.0.0.1 with a cap of 50: the ones past
    the cap are answered 503 and closed at accept, the first 50 are kept,
    and a client from 127.0.0.2 is served at once."""
    s = make_server(max_connections_per_ip=50).start()
    socks = idle_sockets(s, 200)
    try:
        time.sleep(0.5)  # the daemon accepts (and refuses) them all
        assert healthz_from(s, "127.0.0.2") == "HTTP/1.1 200 OK"
        closed, answered = closed_now(socks)
        kept = len(socks) - closed
        assert 45 <= kept <= 50, "%d of 200 kept" % kept
        # past the cap: an answer that says so, not silence
        assert answered >= 100, "%d of %d refused got a 503" % (
            answered, closed)
        assert re.search(r"max_connections_per_ip=50\b", s.stderr())
    finally:
        close_all(socks)
    # the cap counts open connections: once they are gone, 127.0.0.1
    # is served again
    assert s.wait_for(
        lambda: healthz_from(s, "127.0.0.1") == "HTTP/1.1 200 OK")


def _limited_popen(limit):
    """subprocess.Popen whose children run with RLIMIT_NOFILE limit, as
    a server with a small descriptor limit would."""
    real = subprocess.Popen

    def popen(*a, **kw):
        kw.setdefault("preexec_fn", lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (limit, limit)))
        return real(*a, **kw)

    return popen


def test_default_cap_one_address_cannot_lock_out(make_server, nofile,
                                                 monkeypatch):
    """With the defaults, 2,000 idle sockets from one address on a server
    whose descriptor limit allows about as many (1,920 connections) do
    not lock out a client from another address: the default cap (2048)
    is cut to a quarter of the connections, 480."""
    monkeypatch.setattr(subprocess, "Popen", _limited_popen(2048))
    s = make_server().start()
    monkeypatch.undo()
    socks = []
    try:
        socks = idle_sockets(s, 2000)
        time.sleep(1.0)
        assert healthz_from(s, "127.0.0.2") == "HTTP/1.1 200 OK"
        err = s.stderr()
        assert re.search(r"max_connections=1920\b", err), err[-2000:]
        assert re.search(r"max_connections_per_ip=480\b", err)
    finally:
        close_all(socks)


def test_slowloris_header_is_cut_off(make_server):
    """A header sent one byte a second is closed at header_timeout (2 s)
    though every byte restarts MHD's idle timeout, while a normal client
    is served meanwhile."""
    s = make_server(header_timeout="2s").start()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    t0 = time.monotonic()
    cut = None
    try:
        for i, b in enumerate(head):
            try:
                c.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - t0
                break
            if i == 2:
                assert healthz_from(s, "127.0.0.1") == "HTTP/1.1 200 OK"
            c.settimeout(1.0)
            try:
                if c.recv(1) == b"":
                    cut = time.monotonic() - t0
                    break
            except ConnectionResetError:
                cut = time.monotonic() - t0
                break
            except socket.timeout:
                pass
            if time.monotonic() - t0 > 6:
                break
    finally:
        c.close()
    assert cut is not None, "still open after %.1f s" % (
        time.monotonic() - t0)
    assert 1.5 <= cut <= 3.5, cut
    assert s.wait_for(lambda: "header_timeout=2s: closing" in s.stderr(),
                      timeout=2.0), s.stderr()[-2000:]


def test_header_deadline_spares_requests_and_keepalive(make_server):
    """A request whose headers came in time is not cut by the deadline
    while it is answered, and a kept-alive connection has header_timeout
    again for its next request."""
    s = make_server(header_timeout="2s").start()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    try:
        for _ in range(3):
            time.sleep(1.2)  # 3.6 s in all: past one header_timeout
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = read_response(c)
            assert head.startswith(b"HTTP/1.1 200"), head
        # idle past the deadline: the kept-alive connection is closed
        assert closed_by_peer(c, 3.5)
    finally:
        c.close()

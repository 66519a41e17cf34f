"""
Connections one client can hold (DESIGN "The HTTP front"): the per-address
cap (max_connections_per_ip) that keeps room for everyone else. Clients
use 127.0.0.1 and 127.0.0.2 only; each test takes a few seconds.
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


def closed_now(socks, wait=1.0):
    """How many of socks the server has closed (EOF or reset): those
    readable within wait that read nothing."""
    n = 0
    deadline = time.monotonic() + wait
    left = list(socks)
    while left and time.monotonic() < deadline:
        ready, _, _ = select.select(left, [], [], 0.1)
        for c in ready:
            left.remove(c)
            try:
                if c.recv(1) == b"":
                    n += 1
            except ConnectionResetError:
                n += 1
            except BlockingIOError:
                left.append(c)
    return n


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
    the cap are closed at accept, the first 50 are kept, and a client
    from 127.0.0.2 is served at once."""
    s = make_server(max_connections_per_ip=50).start()
    socks = idle_sockets(s, 200)
    try:
        time.sleep(0.5)  # the daemon accepts (and refuses) them all
        assert healthz_from(s, "127.0.0.2") == "HTTP/1.1 200 OK"
        closed = closed_now(socks)
        kept = len(socks) - closed
        assert 45 <= kept <= 50, "%d of 200 kept" % kept
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

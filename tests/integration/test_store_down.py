"""
SPEC §2.2 last row and DESIGN §8: when the queue cannot be written (store
down) a send is answered 503 / 10002 with Retry-After, nothing is queued,
and pigeon recovers once the store is writable again.

The store is made unwritable for real: the test opens the server's SQLite
database with Python's sqlite3 module and holds BEGIN EXCLUSIVE for longer
than the server's busy timeout (5 s, src/store/sqlite.c), or puts the
state_dir on a tmpfs that fills up.
"""
import contextlib
import os
import signal
import sqlite3
import threading
import time

from conftest import (SENDER, assert_human, assert_send_result,
                      fetch, parse, simple)

BUSY_TIMEOUT = 5.0      # src/store/sqlite.c BUSY_TIMEOUT_MS
HTTP_TIMEOUT = 20       # a refused send must come back well before this


def db_path(s):
    return os.path.join(s.state_dir, "pigeon.db")


def counts(s):
    """(messages, recipients) rows, read through a fresh connection."""
    c = sqlite3.connect(db_path(s), timeout=10)
    try:
        m = c.execute("SELECT count(*) FROM messages").fetchone()[0]
        r = c.execute("SELECT count(*) FROM recipients").fetchone()[0]
        return m, r
    finally:
        c.close()


@contextlib.contextmanager
def store_locked(s):
    """Holds the database's write lock (BEGIN EXCLUSIVE) while inside."""
    c = sqlite3.connect(db_path(s), timeout=10, isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        yield c
        c.execute("ROLLBACK")
    finally:
        c.close()


def raw_body(to, subject):
    mime = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbody of %s\r\n" %
            (SENDER, to, subject, subject))
    return {"from": SENDER, "recipients": [to], "mime_message": mime}


def settle(s, message_id, timeout=10):
    """Waits until the capture route has recorded an outcome for every
    recipient, so no outcome write of the server races the lock."""
    def done():
        r = s.status(message_id)
        if r.status != 200:
            return False
        rs = r.json["result"]["recipients"]
        return rs and all(x["status"] not in ("queued",) for x in rs)
    return s.wait_for(done, timeout=timeout)


def assert_unavailable(r):
    """503 / 10002 with a Retry-After of whole seconds (SPEC §2.2)."""
    assert r.status == 503, "want 503/10002, got %r" % r
    j = r.json
    assert j is not None, "error body is not JSON: %r" % r
    assert j.get("success") is False and j.get("result", 0) is None, r
    assert isinstance(j.get("messages"), list), r
    e = j["errors"][0]
    assert type(e.get("code")) is int and e["code"] == 10002, r
    assert e.get("message") == "email.sending.error.internal_server", r
    ra = r.headers.get("Retry-After")
    assert ra is not None, "503 without Retry-After: %r" % r
    assert ra.strip().isdigit() and int(ra) >= 1, "Retry-After %r" % ra


def test_store_down_send_and_send_raw_503_then_recover(make_server):
    s = make_server("storedown", send_wait_ms=0)
    s.start()
    warm = assert_send_result(s.send(simple(subject="warm-up")))
    assert settle(s, warm["message_id"]), "warm-up never delivered"
    before = counts(s)

    results = {}

    def fire(kind):
        t0 = time.time()
        try:
            if kind == "send":
                r = s.send(simple(to="down@example.net",
                                  subject="refused send"),
                           timeout=HTTP_TIMEOUT)
            else:
                r = s.send_raw(raw_body("down-raw@example.net",
                                        "refused raw"),
                               timeout=HTTP_TIMEOUT)
        except OSError as e:
            r = e
        results[kind] = (r, time.time() - t0)

    with store_locked(s):
        ts = [threading.Thread(target=fire, args=(k,))
              for k in ("send", "send_raw")]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=HTTP_TIMEOUT + 5)
        assert not any(t.is_alive() for t in ts), \
            "a send did not come back within %d s while the store was " \
            "locked" % HTTP_TIMEOUT

    for kind in ("send", "send_raw"):
        r, took = results[kind]
        assert not isinstance(r, Exception), \
            "%s: connection error instead of 503: %r" % (kind, r)
        assert_unavailable(r)
        assert_human(r)
        assert took < BUSY_TIMEOUT + 10, "%s took %.1f s" % (kind, took)
    assert "message_id" not in (results["send"][0].raw.decode()), \
        "a refused send must not name a message"

    # Nothing was queued: the rows are exactly those of before.
    assert counts(s) == before, "a refused send left rows in the store: " \
        "%r -> %r" % (before, counts(s))

    # The lock is gone: the same sends now succeed and are retrievable.
    ok = assert_send_result(s.send(simple(to="down@example.net",
                                          subject="after recovery")),
                            recipients=["down@example.net"])
    assert parse(fetch(s, ok["message_id"]))["Subject"] == "after recovery"
    okr = assert_send_result(s.send_raw(raw_body("down-raw@example.net",
                                                 "raw after recovery")),
                             recipients=["down-raw@example.net"])
    assert parse(fetch(s, okr["message_id"]))["Subject"] == \
        "raw after recovery"
    assert counts(s) == (before[0] + 2, before[1] + 2), counts(s)
    assert settle(s, ok["message_id"]) and settle(s, okr["message_id"]), \
        "messages accepted after recovery were not delivered"


def test_store_down_short_lock_waits_not_fails(make_server):
    """A lock shorter than the busy timeout is waited out: the send that
    arrives during it gets 200 (and is stored), not 503."""
    s = make_server("storeblip", send_wait_ms=0)
    s.start()
    before = counts(s)
    out = {}

    def fire():
        out["r"] = s.send(simple(to="blip@example.net", subject="blip"),
                          timeout=HTTP_TIMEOUT)

    with store_locked(s):
        t = threading.Thread(target=fire)
        t.start()
        time.sleep(1.0)
    t.join(timeout=HTTP_TIMEOUT + 5)
    assert not t.is_alive(), "send hung after a 1 s lock"
    res = assert_send_result(out["r"], recipients=["blip@example.net"])
    assert s.message(res["message_id"]).status == 200
    assert counts(s) == (before[0] + 1, before[1] + 1)


def test_store_down_reads_never_500(make_server):
    """While the store is write-locked, reading a stored message needs no
    write lock (WAL readers, DESIGN §4): it answers 200, or at worst the
    retryable 503 of DESIGN §8 ("a storage failure answers try again"),
    never 500.  The server is fresh, so the HTTP thread that serves the
    read opens its store connection while the lock is held."""
    s = make_server("storeread", send_wait_ms=0)
    s.start()
    res = assert_send_result(s.send(simple(subject="read me")))
    mid = res["message_id"]
    assert settle(s, mid)
    s.stop()
    s.start()           # no read connection opened yet on any HTTP thread
    with store_locked(s):
        t0 = time.time()
        r = s.message(mid, timeout=HTTP_TIMEOUT)
        took = time.time() - t0
    if r.status != 200:
        assert_unavailable(r)
    assert took < BUSY_TIMEOUT + 5, "read took %.1f s" % took


def test_store_down_outcome_is_not_lost(make_server):
    """A delivery outcome that cannot be committed while the store is
    down must not be forgotten (DESIGN §1/§8: outcomes flow back through
    queue/ into the store).  capture answers slow… addresses after
    capture_slow_ms; the store is locked before that, for longer than the
    busy timeout, so the outcome's commit fails once.  After the lock is
    released the recipient must reach `delivered` — not stay `queued`
    in the store while the scheduler has forgotten it (a restart would
    then deliver it a second time)."""
    s = make_server("storeoutcome", send_wait_ms=0, capture_slow_ms=500)
    s.start()
    res = assert_send_result(s.send(simple(to="slow-outcome@example.net")))
    mid = res["message_id"]
    with store_locked(s):
        time.sleep(BUSY_TIMEOUT + 1.0)

    def delivered():
        r = s.status(mid)
        if r.status != 200:
            return None
        rs = r.json["result"]["recipients"]
        return rs if rs[0]["status"] == "delivered" else None
    got = s.wait_for(delivered, timeout=5)
    assert got, "outcome lost while the store was down: recipient still " \
        "%r 5 s after the store came back" % \
        s.status(mid).json["result"]["recipients"]


def test_sigterm_while_store_down(make_server):
    """SIGTERM while a send waits on a locked store: the send is answered
    (503, nothing queued — or 200 if it was committed after all) and the
    process still exits 0 in bounded time."""
    s = make_server("storeterm", send_wait_ms=0)
    s.start()
    before = counts(s)
    out = {}

    def fire():
        try:
            out["r"] = s.send(simple(to="term@example.net"),
                              timeout=HTTP_TIMEOUT)
        except OSError as e:
            out["r"] = e

    with store_locked(s):
        t = threading.Thread(target=fire)
        t.start()
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        t.join(timeout=HTTP_TIMEOUT)
        assert not t.is_alive(), "send not answered after SIGTERM"
        rc = s.proc.wait(timeout=HTTP_TIMEOUT)
    s.proc = None
    assert rc == 0, s.stderr()[-3000:]
    r = out["r"]
    assert not isinstance(r, Exception), \
        "the send in flight at SIGTERM got no answer: %r" % r
    if r.status == 200:
        s.start()
        assert s.message(r.json["result"]["message_id"]).status == 200
    else:
        assert_unavailable(r)
        assert counts(s) == before


# -- disk full ------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(path, size):
    """A tmpfs of size mounted at path (needs root); skips when the
    machine does not allow mounts."""
    import subprocess
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                        "tmpfs", path], capture_output=True)
    if p.returncode != 0:
        import pytest
        pytest.skip("cannot mount a tmpfs here: %s" % p.stderr.decode())
    try:
        yield lambda new: subprocess.run(
            ["mount", "-o", "remount,size=" + new, path], check=True)
    finally:
        subprocess.run(["umount", "-l", path])


def test_disk_full_is_503_and_nothing_acknowledged_is_lost(make_server):
    """A full disk for real: sends are refused with 503/10002 and a
    sentence, never 500; every 200 given before is in the store after a
    SIGKILL; once there is room again sends succeed without a restart."""
    s = make_server("diskfull", send_wait_ms=0)
    with small_disk(s.state_dir, "2m") as grow:
        s.start()
        acked, refused = [], None
        for i in range(400):
            r = s.send(simple(to="full%d@example.net" % i, text="x" * 20000))
            if r.status == 200:
                acked.append(r.json["result"]["message_id"])
                continue
            refused = r
            break
        assert acked and refused is not None, "the disk never filled"
        assert_unavailable(refused)
        assert_human(refused, "nothing was sent")
        assert_unavailable(s.send(simple(to="again@example.net",
                                         text="x" * 20000)))
        grow("20m")
        assert s.wait_for(lambda: s.send(simple(to="room@example.net"))
                          .status == 200, timeout=15)
        s.kill()
        s.start()
        for mid in acked:
            assert s.message(mid).status == 200, mid
        s.stop()

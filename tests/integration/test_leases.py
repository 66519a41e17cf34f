"""
The shared queue (SPEC §6.3, issue 7): the delivery engine holds at most
queue_window recipients and claims the rest from the store, by due time,
as leases (owner, until). A lease of another node is waited for until it
runs out; this node's own are free again when it starts; the leases of
what it holds long are renewed; two nodes on one store deliver each
recipient once.
"""
import os
import re
import sqlite3
import time

from conftest import Server, _finish, _live, assert_send_result, simple
from mxnet import Smtp
from test_outcomes import status_of, uniq, wait_status


def db(s):
    return sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"),
                           timeout=10, isolation_level=None)


def now_ms():
    return int(time.time() * 1000)


def deferred_backlog(s, n, prefix="defer"):
    """n messages, one recipient each, deferred once (capture's defer…
    addresses) with their next attempt minutes away: in the store, not
    in the engine. Their (message_id, address) pairs."""
    sent = []
    for _ in range(n):
        a = uniq(prefix)
        res = assert_send_result(s.send(simple(to=a)), [a])
        sent.append((res["message_id"], a))
    for mid, a in sent:
        assert wait_status(s, mid, a, "deferred")["status"] == "deferred"
    return sent


def test_a_backlog_is_read_in_pages_of_the_window(make_server):
    """With queue_window 4, twelve recipients due at once are claimed four
    at a time, each delivered once, and no lease is left behind."""
    s = make_server("window", queue_window=4, send_wait_ms=0,
                    retry_base_ms=120000, retry_max_ms=120000,
                    capture_defer_attempts=1, log_level="debug").start()
    sent = deferred_backlog(s, 12)
    s.stop()
    s.cli("queue", "retry", "--all", json_out=False)
    s.start()
    for mid, a in sent:
        st = wait_status(s, mid, a, "delivered")
        assert st["status"] == "delivered" and st["attempts"] == 2, st
    claims = [(int(k), int(n)) for k, n in re.findall(
        r"claim of (\d+): (\d+) recipients", s.stderr())]
    assert all(n <= k <= 4 for k, n in claims), claims
    assert sum(n for _, n in claims) == 12, claims
    assert [c for c in claims if c[1]][0] == (4, 4), claims
    delivered = re.findall(r"rcpt=(\S+) .*status=delivered", s.stderr())
    assert sorted(delivered) == sorted(a for _, a in sent), delivered
    c = db(s)
    assert c.execute("SELECT count(*) FROM recipients WHERE lease_owner "
                     "IS NOT NULL OR lease_until != 0").fetchone() == (0,)


def test_another_nodes_lease_is_waited_for(make_server):
    """A recipient leased by another node (mail-2, as if it had died
    holding it) is not tried until that lease runs out; then this node
    takes it at once, not at its next poll."""
    s = make_server("foreign", node_id="mail-1", send_wait_ms=0,
                    retry_base_ms=120000, retry_max_ms=120000,
                    capture_defer_attempts=1).start()
    [(mid, a)] = deferred_backlog(s, 1)
    s.stop()
    until = now_ms() + 3000
    db(s).execute("UPDATE recipients SET next_attempt = ?, lease_owner = "
                  "'mail-2', lease_until = ? WHERE state = 1",
                  (now_ms() - 1000, until))
    s.start()
    time.sleep(1.5)
    assert status_of(s, mid)[a]["status"] == "deferred"
    st = wait_status(s, mid, a, "delivered", timeout=10)
    assert st["status"] == "delivered", st
    assert now_ms() >= until
    assert now_ms() - until < 5000, "taken %d ms after the lease ran out" \
        % (now_ms() - until)
    row = db(s).execute("SELECT lease_owner, lease_until FROM recipients "
                        "WHERE address = ?", (a,)).fetchone()
    assert row == (None, 0), row


def test_own_leases_are_free_at_start(make_server):
    """What this node held when it stopped (its lease minutes from
    running out) is tried as soon as it starts again."""
    s = make_server("own", node_id="node-a", send_wait_ms=0,
                    retry_base_ms=120000, retry_max_ms=120000,
                    capture_defer_attempts=1).start()
    [(mid, a)] = deferred_backlog(s, 1)
    s.stop()
    db(s).execute("UPDATE recipients SET next_attempt = ?, lease_owner = "
                  "'node-a', lease_until = ? WHERE state = 1",
                  (now_ms() - 1000, now_ms() + 600000))
    t0 = time.time()
    s.start()
    st = wait_status(s, mid, a, "delivered", timeout=10)
    assert st["status"] == "delivered", st
    assert time.time() - t0 < 5
    assert "1 recipients held by node node-a at its last stop are due " \
        "again" in s.stderr()


def test_a_lease_is_renewed_while_its_recipient_is_held(make_server):
    """queue_lease 1s and an attempt that takes 3 s (capture's slow…):
    while it runs, the recipient's lease is this node's and keeps ahead
    of the clock; the outcome ends it."""
    s = make_server("renew", node_id="node-r", queue_lease="1s",
                    send_wait_ms=0, capture_slow_ms=3000).start()
    a = uniq("slow")
    res = assert_send_result(s.send(simple(to=a)), [a])
    c = db(s)
    seen = []
    deadline = time.time() + 2.6
    while time.time() < deadline:
        row = c.execute("SELECT lease_owner, lease_until, state FROM "
                        "recipients WHERE address = ?", (a,)).fetchone()
        seen.append((row, now_ms()))
        time.sleep(0.2)
    for (owner, until, state), t in seen:
        assert state == 0 and owner == "node-r", seen
        assert until > t, "lease ran out while held: %r" % (seen,)
    assert seen[-1][0][1] - seen[0][0][1] >= 1000, seen  # renewed
    st = wait_status(s, res["message_id"], a, "delivered")
    assert st["status"] == "delivered", st
    row = c.execute("SELECT lease_owner, lease_until FROM recipients "
                    "WHERE address = ?", (a,)).fetchone()
    assert row == (None, 0), row


def test_a_clean_stop_frees_what_the_node_held(make_server):
    """SIGTERM while the engine holds a recipient for a retry within the
    minute: its lease ends, so another node need not wait it out."""
    s = make_server("stopfree", send_wait_ms=0, retry_base_ms=20000,
                    retry_max_ms=20000).start()
    a = uniq("fail")
    res = assert_send_result(s.send(simple(to=a)), [a])
    assert wait_status(s, res["message_id"], a, "deferred")["status"] == \
        "deferred"
    row = db(s).execute("SELECT lease_owner FROM recipients WHERE "
                        "address = ?", (a,)).fetchone()
    assert row[0] is not None, row  # held: due within the horizon
    s.stop()
    row = db(s).execute("SELECT lease_owner, lease_until, state FROM "
                        "recipients WHERE address = ?", (a,)).fetchone()
    assert row == (None, 0, 1), row
    assert "1 recipients this node held are free for other nodes" in \
        s.stderr()


def test_two_nodes_share_one_store(tmp_path):
    """Two pigeon processes (node-a, node-b), each with its own state_dir,
    on one store: a backlog of 30 recipients goes to an SMTP peer that
    takes 0.2 s per message; each is delivered exactly once, and both
    nodes deliver some."""
    dead = Smtp(str(tmp_path / "dead"), "127.0.0.1", 0)
    dead_port = dead.port
    dead.stop()  # the relay refuses connections: everything defers
    base = {"send_wait_ms": "0", "retry_base_ms": "120000",
            "retry_max_ms": "120000", "queue_window": "2",
            "max_connections_per_destination": "2",
            "smtp_timeout_connect": "1000ms"}
    for d in ("a", "b"):
        os.makedirs(tmp_path / d)
    a = Server(tmp_path / "a", lines=[
        "route * relay smtp://127.0.0.1:%d tls=none" % dead_port],
        node_id="node-a", **base)
    _live.append(a)
    a.start()
    to = ["r%02d@backlog.example" % i for i in range(30)]
    mids = {}
    for rcpt in to:
        res = assert_send_result(a.send(simple(to=rcpt)), [rcpt])
        mids[rcpt] = res["message_id"]
    for rcpt in to:
        assert wait_status(a, mids[rcpt], rcpt, "deferred")["status"] == \
            "deferred"
    _finish(a)
    a.cli("queue", "retry", "--all", json_out=False)

    peer = Smtp(str(tmp_path / "peer"), "127.0.0.1", 0, "--delay-dot", "0.2")
    try:
        route = "route * relay smtp://127.0.0.1:%d tls=none" % peer.port
        a = Server(tmp_path / "a", lines=[route], node_id="node-a", **base)
        b = Server(tmp_path / "b", lines=[route], node_id="node-b", **base)
        os.makedirs(b.state_dir)
        os.symlink(os.path.join(a.state_dir, "pigeon.db"),
                   os.path.join(b.state_dir, "pigeon.db"))
        _live.extend([a, b])
        a.start()
        b.start()
        for rcpt in to:
            st = wait_status(a, mids[rcpt], rcpt, "delivered", timeout=30)
            assert st["status"] == "delivered", (rcpt, st)
        got = [m["rcpt_tos"] for m in peer.messages()]
        assert sorted(r for rc in got for r in rc) == to, got
        by = {}
        for node in (a, b):
            for rcpt in re.findall(r"rcpt=(\S+) .*status=delivered",
                                   node.stderr()):
                by.setdefault(rcpt, []).append(node.dir)
        assert sorted(by) == to and all(len(v) == 1 for v in by.values()), by
        nodes = {v[0] for v in by.values()}
        assert nodes == {a.dir, b.dir}, "one node delivered all: %r" % by
    finally:
        for node in (a, b):
            if node.proc is not None:
                _finish(node)
        peer.stop()

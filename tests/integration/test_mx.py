"""
Real delivery (SPEC §6.3): pigeon with `route * mx` (or a relay) sends to
SMTP peers that the test starts, found through a DNS server the test
starts. Each peer is tests/peers/smtp_peer.py on its own 127.0.0.x, all
on one port (pigeon's `mx_port`).
"""
import os
import re
import time

import pytest

from conftest import (Server, _finish, _live, assert_send_result,
                      dkim_verify_all, fetch, simple)
from mxnet import Dns, Smtp, port_free_on
from test_events import events, suppressions

MX1, MX2 = "127.0.0.2", "127.0.0.3"

# short timeouts so a dead or stalled peer costs a test seconds
FAST = {
    "smtp_timeout_connect": "1000ms",
    "smtp_timeout_greeting": "1000ms",
    "smtp_timeout_ehlo": "1000ms",
    "smtp_timeout_mail": "1000ms",
    "smtp_timeout_rcpt": "1000ms",
    "smtp_timeout_data": "1000ms",
    "smtp_timeout_dot": "1000ms",
    "retry_base_ms": "300",
    "retry_max_ms": "600",
}

RECORDS = [
    "mail.test 300 MX 10 mx1.mail.test",
    "mail.test 300 MX 20 mx2.mail.test",
    "mx1.mail.test 300 A %s" % MX1,
    "mx2.mail.test 300 A %s" % MX2,
    "implicit.test 300 A %s" % MX1,
    "nullmx.test 300 MX 0 .",
    "dead.test 300 MX 10 mx1.dead.test",
    "mx1.dead.test 300 A 127.0.0.9",
]


class Net:
    """The DNS server, the peers and a pigeon wired to them."""

    def __init__(self, tmp, request):
        self.tmp = str(tmp)
        self.port = port_free_on([MX1, MX2, "127.0.0.9"])
        self.dns = Dns(os.path.join(self.tmp, "dns"), RECORDS,
                       servfail=["broken.test"])
        self.peers = []
        self.server = None
        request.addfinalizer(self.stop)

    def peer(self, addr, *args):
        p = Smtp(os.path.join(self.tmp, "peers"), addr, self.port, *args)
        self.peers.append(p)
        return p

    def pigeon(self, routes=("route * mx tls=none",), **conf):
        c = dict(FAST)
        c.update(conf)
        c["dns_servers"] = "127.0.0.1:%d" % self.dns.port
        c["mx_port"] = str(self.port)
        c.setdefault("helo_name", "pigeon.test")
        os.makedirs(os.path.join(self.tmp, "pigeon"), exist_ok=True)
        self.server = Server(os.path.join(self.tmp, "pigeon"),
                             lines=list(routes), **c)
        _live.append(self.server)
        return self.server.start()

    def stop(self):
        if self.server is not None and self.server.proc is not None:
            _finish(self.server)
        for p in self.peers:
            p.stop()
        self.dns.stop()


@pytest.fixture
def net(tmp_path, request):
    return Net(tmp_path, request)


def wait_status(server, mid, want, timeout=10):
    """The recipients' states once each is one of want (a dict address →
    state, or a set of final states)."""
    deadline = time.time() + timeout
    while True:
        r = server.status(mid)
        assert r.status == 200, r
        got = {x["address"]: x for x in r.json["result"]["recipients"]}
        states = {a: x["status"] for a, x in got.items()}
        if isinstance(want, dict):
            if all(states.get(a) == s for a, s in want.items()):
                return got
        elif all(s in want for s in states.values()):
            return got
        if time.time() > deadline:
            raise AssertionError("states %r, want %r" % (states, want))
        time.sleep(0.1)


def test_delivered_to_the_preferred_mx_byte_for_byte(net):
    """The message the peer receives is the one GET messages/{id} serves,
    its DKIM signatures verify, and the envelope sender is the VERP
    address on the sending domain's return-path domain."""
    mx1 = net.peer(MX1)
    mx2 = net.peer(MX2)
    s = net.pigeon()
    r = s.send(simple(to="alice@mail.test", text=".starts with a dot\n"
                      "..two\n.\nend"))
    res = assert_send_result(r, recipients=["alice@mail.test"])
    mid = res["message_id"]
    got = mx1.wait_messages(1)
    assert mx2.messages() == []
    m = got[0]
    assert m["rcpt_tos"] == ["alice@mail.test"]
    assert re.match(r"^b\.[0-9a-v]+\.[0-9a-v]+\.[0-9a-v]{8}@bounces\.",
                    m["mail_from"]), m["mail_from"]
    raw = fetch(s, mid)
    assert m["data"] == raw  # dot-stuffing undone by the peer: intact
    assert b"\r\n.starts with a dot\r\n..two\r\n.\r\nend" in \
        m["data"].replace(b"=\r\n", b"")
    dkim_verify_all(s, m["data"], strict=False)
    st = wait_status(s, mid, {"alice@mail.test": "delivered"})
    assert st["alice@mail.test"]["smtp_response"].startswith("250"), st
    assert re.search(r"rcpt=alice@mail\.test route=mx relay=mx1\.mail\.test"
                     r"\[127\.0\.0\.2\]:\d+ tls=none attempt=1 "
                     r"status=delivered", s.stderr()), s.stderr()[-2000:]


def test_delivered_by_bdat_to_a_chunking_peer(net):
    """A peer offering CHUNKING (RFC 3030) with PIPELINING gets the
    message by BDAT LAST, not DATA: the bytes as stored, no dot-stuffing,
    equal to GET messages/{id}, and its DKIM signatures verify."""
    mx1 = net.peer(MX1, "--chunking")
    s = net.pigeon()
    r = s.send(simple(to="alice@mail.test", text=".starts with a dot\n"
                      "..two\n.\nend"))
    res = assert_send_result(r, recipients=["alice@mail.test"])
    mid = res["message_id"]
    m = mx1.wait_messages(1)[0]
    assert m["via"] == "BDAT", m
    raw = fetch(s, mid)
    assert m["data"] == raw
    assert m["size"] == len(raw)
    cmds = m["session"]["commands"]
    assert "BDAT %d LAST" % len(raw) in cmds, cmds
    assert "DATA" not in cmds, cmds
    dkim_verify_all(s, m["data"], strict=False)
    st = wait_status(s, mid, {"alice@mail.test": "delivered"})
    assert st["alice@mail.test"]["smtp_response"].startswith("250"), st


def test_mixed_replies_in_one_transaction(net):
    """250, 550 5.1.1 and 451 4.3.0 to three RCPTs of one transaction:
    each recipient lands in its own list, from one session."""
    mx1 = net.peer(MX1, "--rcpt-reply", "bad@mail.test=550 5.1.1 no such user",
                   "--rcpt-reply", "later@mail.test=451 4.3.0 try later")
    net.peer(MX2, "--rcpt-reply", "later@mail.test=451 4.3.0 try later")
    s = net.pigeon()
    to = ["ok@mail.test", "bad@mail.test", "later@mail.test"]
    r = s.send(simple(to=to))
    res = assert_send_result(r, recipients=to)
    assert res["delivered"] == ["ok@mail.test"], res
    assert res["permanent_bounces"] == ["bad@mail.test"], res
    assert res["queued"] == ["later@mail.test"], res
    got = mx1.wait_messages(1)
    assert sorted(got[0]["rcpt_tos"]) == ["later@mail.test"] or \
        sorted(got[0]["rcpt_tos"]) == ["ok@mail.test"], got[0]["rcpt_tos"]
    st = wait_status(s, res["message_id"], {"bad@mail.test": "bounced"})
    assert "550 5.1.1" in st["bad@mail.test"]["smtp_response"], st
    assert "451 4.3.0" in st["later@mail.test"]["smtp_response"], st
    # the bounce's event and its suppression (SPEC §6.4, §6.5)
    ev = [e for e in events(s, "bad@mail.test")
          if e["type"].endswith(".bounced")]
    assert len(ev) == 1, ev
    d = ev[0]["json"]["payload"]["delivery"]
    assert d["provider"] == "mx" and d["smtpStatusCode"] == 550 and \
        d["smtpEnhancedStatusCode"] == "5.1.1", ev[0]
    sup = suppressions(s, "bad@mail.test")
    assert [x["reason"] for x in sup] == ["hard_bounce"], sup


def test_next_mx_when_the_first_is_dead(net):
    """Nothing listens on mx1: the same attempt goes on to mx2."""
    mx2 = net.peer(MX2)
    s = net.pigeon()
    r = s.send(simple(to="bob@mail.test"))
    res = assert_send_result(r, recipients=["bob@mail.test"])
    mx2.wait_messages(1)
    wait_status(s, res["message_id"], {"bob@mail.test": "delivered"})


def test_implicit_mx(net):
    """No MX record: the domain's own A record is the host."""
    mx1 = net.peer(MX1)
    s = net.pigeon()
    r = s.send(simple(to="carol@implicit.test"))
    res = assert_send_result(r, recipients=["carol@implicit.test"])
    mx1.wait_messages(1)
    wait_status(s, res["message_id"], {"carol@implicit.test": "delivered"})


@pytest.mark.parametrize("to,dsn", [
    ("x@nullmx.test", "5.1.10"),
    ("x@nosuchdomain.test", "5.1.2"),
])
def test_dns_says_no_mail(net, to, dsn):
    """A null MX (RFC 7505) or NXDOMAIN bounces at once."""
    s = net.pigeon()
    r = s.send(simple(to=to))
    res = assert_send_result(r, recipients=[to])
    assert res["permanent_bounces"] == [to], res
    assert re.search(r"rcpt=%s route=mx attempt=1 status=bounced dsn=%s" %
                     (re.escape(to), re.escape(dsn)), s.stderr())


def test_servfail_defers(net):
    s = net.pigeon()
    r = s.send(simple(to="x@broken.test"))
    res = assert_send_result(r, recipients=["x@broken.test"])
    assert res["queued"] == ["x@broken.test"], res
    st = wait_status(s, res["message_id"], {"x@broken.test": "deferred"})
    assert st["x@broken.test"]["attempts"] >= 1


def test_deferred_then_delivered_on_retry(net):
    """A 451 to the first RCPT, then the peer takes it on the retry."""
    mx1 = net.peer(MX1, "--rcpt-reply-once",
                   "again@mail.test=451 4.3.0 later")
    s = net.pigeon()
    r = s.send(simple(to="again@mail.test"))
    res = assert_send_result(r, recipients=["again@mail.test"])
    st = wait_status(s, res["message_id"], {"again@mail.test": "delivered"})
    assert st["again@mail.test"]["attempts"] == 2, st
    assert len(mx1.wait_messages(1)) == 1


def test_connection_reused_for_the_next_message(net):
    """Two messages to one domain, one after the other: one session, two
    transactions, an RSET between them."""
    mx1 = net.peer(MX1)
    s = net.pigeon()
    for i in range(2):
        r = s.send(simple(to="reuse%d@mail.test" % i))
        assert_send_result(r)
    got = mx1.wait_messages(2, timeout=15)
    assert got[0]["session"]["session"] == got[1]["session"]["session"]
    cmds = [c.split()[0].upper() for c in got[1]["session"]["commands"]]
    assert cmds.count("MAIL") == 2 and "RSET" in cmds, cmds


def test_tls_require_without_starttls_defers(net):
    net.peer(MX1)
    net.peer(MX2)
    s = net.pigeon(routes=["route * mx tls=require"])
    r = s.send(simple(to="t@mail.test"))
    res = assert_send_result(r, recipients=["t@mail.test"])
    assert res["queued"] == ["t@mail.test"], res
    st = wait_status(s, res["message_id"], {"t@mail.test": "deferred"})
    assert "STARTTLS" in st["t@mail.test"]["smtp_response"] or \
        "tls" in st["t@mail.test"]["smtp_response"].lower(), st


def test_tls_verify(net):
    """tls=verify: a certificate for another name is refused (deferred);
    the right name with tls_ca_file delivers over TLS."""
    mx1 = net.peer(MX1, "--tls", "mx1.mail.test")
    ca = os.path.join(mx1.certs, "ca.pem")
    s = net.pigeon(routes=["route * mx tls=verify"], tls_ca_file=ca)
    r = s.send(simple(to="v@mail.test"))
    res = assert_send_result(r, recipients=["v@mail.test"])
    got = mx1.wait_messages(1)
    assert got[0]["session"]["tls"].startswith("TLSv1"), got[0]["session"]
    wait_status(s, res["message_id"], {"v@mail.test": "delivered"})
    assert re.search(r"rcpt=v@mail\.test route=mx relay=\S+ tls=TLSv1\.[23]",
                     s.stderr())


def test_tls_verify_wrong_name_defers(net):
    mx1 = net.peer(MX1, "--tls", "someone-else.test")
    net.peer(MX2, "--tls", "someone-else.test",
             "--cert-dir", os.path.join(net.tmp, "peers", "certs-%s" % MX1))
    ca = os.path.join(mx1.certs, "ca.pem")
    s = net.pigeon(routes=["route * mx tls=verify"], tls_ca_file=ca)
    r = s.send(simple(to="w@mail.test"))
    res = assert_send_result(r, recipients=["w@mail.test"])
    assert res["queued"] == ["w@mail.test"], res
    wait_status(s, res["message_id"], {"w@mail.test": "deferred"})
    assert mx1.messages() == []


@pytest.mark.parametrize("scheme,extra", [
    ("smtp", []),
    ("smtps", ["--implicit-tls"]),
])
def test_relay_with_auth(net, scheme, extra):
    """A relay that requires AUTH, over STARTTLS and over implicit TLS:
    every domain goes through it."""
    relay = net.peer(MX1, "--tls", "relay.mail.test", "--auth",
                     "user:p@ss:word", *extra)
    ca = os.path.join(relay.certs, "ca.pem")
    route = ("route * relay %s://user:p%%40ss%%3Aword@relay.mail.test:%d "
             "tls=verify" % (scheme, net.port))
    net.dns.stop()
    net.dns = Dns(os.path.join(net.tmp, "dns2"),
                  RECORDS + ["relay.mail.test 300 A %s" % MX1])
    s = net.pigeon(routes=[route], tls_ca_file=ca)
    r = s.send(simple(to=["r1@anywhere.example", "r2@mail.test"]))
    res = assert_send_result(r)
    got = relay.wait_messages(2)
    assert all(m["session"]["auth"] == "user" for m in got), got
    for a in ("r1@anywhere.example", "r2@mail.test"):
        wait_status(s, res["message_id"], {a: "delivered"})
    assert "p@ss:word" not in s.stderr()


def test_size_refusal_bounces_without_sending(net):
    mx1 = net.peer(MX1, "--size", "1000")
    s = net.pigeon()
    r = s.send(simple(to="big@mail.test", text="x" * 5000))
    res = assert_send_result(r, recipients=["big@mail.test"])
    assert res["permanent_bounces"] == ["big@mail.test"], res
    st = wait_status(s, res["message_id"], {"big@mail.test": "bounced"})
    assert "5.3.4" in st["big@mail.test"]["smtp_response"], st
    time.sleep(0.3)
    assert all(not x.get("messages") for x in mx1.sessions())


def test_dropped_in_data_is_retried_and_delivered_once(net):
    mx1 = net.peer(MX1, "--drop-in-data", "--faults", "1")
    s = net.pigeon()
    r = s.send(simple(to="drop@mail.test"))
    res = assert_send_result(r, recipients=["drop@mail.test"])
    wait_status(s, res["message_id"], {"drop@mail.test": "delivered"},
                timeout=15)
    assert len(mx1.wait_messages(1)) == 1
    time.sleep(0.5)
    assert len(mx1.messages()) == 1


def test_stalled_mx_times_out_to_the_next(net):
    """mx1 never answers the greeting: after smtp_timeout_greeting the
    attempt goes on to mx2."""
    net.peer(MX1, "--stall-at", "greeting")
    mx2 = net.peer(MX2)
    s = net.pigeon()
    r = s.send(simple(to="stall@mail.test"))
    res = assert_send_result(r, recipients=["stall@mail.test"])
    mx2.wait_messages(1)
    wait_status(s, res["message_id"], {"stall@mail.test": "delivered"})


def test_restart_with_a_queue_delivers(net):
    """Deferred at a dead MX, pigeon restarts, the peer comes up: the
    message goes out once."""
    s = net.pigeon(routes=["route dead.test mx tls=none",
                           "route * capture"])
    r = s.send(simple(to="later@dead.test"))
    res = assert_send_result(r, recipients=["later@dead.test"])
    wait_status(s, res["message_id"], {"later@dead.test": "deferred"})
    s.stop()
    peer = net.peer("127.0.0.9")
    s.start()
    wait_status(s, res["message_id"], {"later@dead.test": "delivered"},
                timeout=15)
    assert len(peer.wait_messages(1)) == 1


# -- a real Postfix as the receiving MTA (a peer nobody here wrote) --------
def test_delivered_to_postfix_over_starttls(net):
    """MX → a private Postfix on 127.0.0.4 offering STARTTLS, pigeon with
    tls=verify and Postfix's certificate as tls_ca_file: one message to a
    known mailbox and one to an unknown one. Postfix files the first
    (what it adds — Return-Path, X-Original-To, Delivered-To, Received —
    goes before the bytes pigeon sent, which verify with dkimpy) and
    refuses the second at RCPT: delivered and bounced 5.1.1."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "peers"))
    from postfix import Postfix

    pf = Postfix(None, net.port, domains=("pf.test",), mailboxes=["alice"],
                 tls=True, tls_name="mx.pf.test", addrs=("127.0.0.4",))
    pf.start()
    try:
        net.dns.stop()
        net.dns = Dns(os.path.join(net.tmp, "dns-pf"), RECORDS + [
            "pf.test 300 MX 10 mx.pf.test", "mx.pf.test 300 A 127.0.0.4"])
        s = net.pigeon(routes=["route * mx tls=verify"], tls_ca_file=pf.cert)
        to = ["alice@pf.test", "nobody@pf.test"]
        r = s.send(simple(to=to))
        res = assert_send_result(r, recipients=to)
        assert res["delivered"] == ["alice@pf.test"], res
        assert res["permanent_bounces"] == ["nobody@pf.test"], res
        got = pf.wait_messages(1, rcpt="alice@pf.test")
        raw = fetch(s, res["message_id"])
        assert got[0].endswith(raw), (got[0][:600], raw[:200])
        head = got[0][:len(got[0]) - len(raw)]
        assert b"using TLSv1.3" in head or b"using TLSv1.2" in head, head
        dkim_verify_all(s, got[0], strict=False)
        st = wait_status(s, res["message_id"],
                         {"nobody@pf.test": "bounced"})
        assert "5.1.1" in st["nobody@pf.test"]["smtp_response"], st
        # Postfix offers CHUNKING and PIPELINING: the message went as
        # BDAT (RFC 3030), as Postfix counts it when the session ends
        assert s.stop() == 0
        deadline = time.time() + 10
        while "disconnect from" not in pf.log() and time.time() < deadline:
            time.sleep(0.05)
        bye = [ln for ln in pf.log().splitlines() if "disconnect from" in ln]
        assert bye and " bdat=1 " in bye[-1] and " data=" not in bye[-1], bye
    finally:
        pf.close()


def test_throttled_destination_halves_its_cap_and_recovers(net):
    """SPEC §6.3 destination health: two sessions greeted with 421 4.7.0
    halve the destination's cap twice (4 → 2 → 1) and pause it; the
    message goes out on the third, and successes give the connections
    back one by one up to max_connections_per_destination."""
    net.dns.stop()
    net.dns = Dns(os.path.join(net.tmp, "dns-t"), RECORDS + [
        "throttle.test 300 MX 10 mx.throttle.test",
        "mx.throttle.test 300 A 127.0.0.5"])
    peer = net.peer("127.0.0.5", "--greeting-421", "--faults", "2")
    s = net.pigeon(max_connections_per_destination="4")
    r = s.send(simple(to="t1@throttle.test"))
    res = assert_send_result(r, recipients=["t1@throttle.test"])
    wait_status(s, res["message_id"], {"t1@throttle.test": "delivered"},
                timeout=15)
    err = s.stderr()
    assert re.search(r"destination=mx:throttle\.test throttled: cap 4 -> 2, "
                     r"paused 0\.3s \(reply=\"\S+ greeting: 421 4\.7\.0", err), \
        err[-3000:]
    assert re.search(r"destination=mx:throttle\.test throttled: cap 2 -> 1, "
                     r"paused 0\.6s", err), err[-3000:]
    # paused: no session began within the pause after a throttle
    starts = [x["start"] for x in peer.sessions()]
    assert len(starts) >= 2 and starts[1] - starts[0] >= 0.25, starts
    for i in range(3):
        r = s.send(simple(to="t%d@throttle.test" % (i + 2)))
        assert_send_result(r)
    assert s.wait_for(lambda: "destination=mx:throttle.test recovered: "
                      "cap 4" in s.stderr(), timeout=15), s.stderr()[-2000:]


def test_sigterm_lets_a_transaction_finish(net):
    """SIGTERM while a peer takes 2 s to answer the final dot: pigeon
    waits for the reply (drain_timeout), records the delivery and exits
    0; after a restart the recipient is delivered, once."""
    mx1 = net.peer(MX1, "--delay-dot", "2")
    s = net.pigeon(smtp_timeout_dot="10s", send_wait_ms="0")
    r = s.send(simple(to="drain@mail.test"))
    res = assert_send_result(r, recipients=["drain@mail.test"])
    mx1.wait_messages(1)  # the dot is sent; its reply comes in 2 s
    t0 = time.time()
    assert s.stop() == 0
    took = time.time() - t0
    assert 1.0 <= took < 10, took  # it waited for the reply
    assert "delivery: drained 1 SMTP transactions in flight" in s.stderr()
    s.start()
    wait_status(s, res["message_id"], {"drain@mail.test": "delivered"})
    time.sleep(0.5)
    assert len(mx1.messages()) == 1


def test_drain_timeout_cuts_a_stalled_transaction(net):
    """A peer that never answers the dot: SIGTERM cuts the transaction at
    drain_timeout, and the recipient is tried again after the restart."""
    net.peer(MX1, "--stall-at", "dot", "--faults", "1")
    s = net.pigeon(drain_timeout="1s", smtp_timeout_dot="60s",
                   send_wait_ms="0")
    r = s.send(simple(to="cut@mail.test"))
    res = assert_send_result(r, recipients=["cut@mail.test"])
    time.sleep(0.8)
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 6
    assert "drain_timeout=1s: cutting the SMTP transactions" in s.stderr()
    s.start()
    wait_status(s, res["message_id"], {"cut@mail.test": "delivered"},
                timeout=15)


def test_relay_is_one_destination(net):
    """Three recipient domains through one relay with
    max_connections_per_destination 1: the relay's cap counts for all of
    them, so the three transactions share one connection, in turn."""
    relay = net.peer(MX1)
    net.dns.stop()
    net.dns = Dns(os.path.join(net.tmp, "dns-r"),
                  RECORDS + ["relay.mail.test 300 A %s" % MX1])
    s = net.pigeon(routes=["route * relay smtp://relay.mail.test:%d "
                           "tls=none" % net.port],
                   max_connections_per_destination="1")
    to = ["a@one.example", "b@two.example", "c@three.example"]
    res = assert_send_result(s.send(simple(to=to)), recipients=to)
    got = relay.wait_messages(3)
    assert len({m["session"]["session"] for m in got}) == 1, \
        [m["session"] for m in got]
    for a in to:
        wait_status(s, res["message_id"], {a: "delivered"})


def test_smtputf8_needed_but_not_offered_bounces(net):
    """An internationalized recipient (RFC 6531) to a server without
    SMTPUTF8: bounced 5.6.7, nothing sent; with SMTPUTF8 offered it is
    delivered, with SMTPUTF8 on its MAIL FROM."""
    mx1 = net.peer(MX1, "--no-smtputf8")
    s = net.pigeon()
    r = s.send(simple(to="jösé@mail.test"))
    res = assert_send_result(r, recipients=["jösé@mail.test"])
    assert res["permanent_bounces"] == ["jösé@mail.test"], res
    st = wait_status(s, res["message_id"], {"jösé@mail.test": "bounced"})
    assert "5.6.7" in st["jösé@mail.test"]["smtp_response"], st
    assert mx1.messages() == []


def test_smtputf8_delivered_when_offered(net):
    mx1 = net.peer(MX1)
    s = net.pigeon()
    r = s.send(simple(to="jösé@mail.test"))
    res = assert_send_result(r, recipients=["jösé@mail.test"])
    got = mx1.wait_messages(1)
    assert got[0]["rcpt_tos"] == ["jösé@mail.test"], got[0]
    assert "SMTPUTF8" in [o.upper() for o in got[0]["mail_options"]], got[0]
    wait_status(s, res["message_id"], {"jösé@mail.test": "delivered"})


def test_verp_key_is_kept_and_checked(net):
    """state_dir/verp.key is made at the first start (32 bytes, 0600) and
    kept across restarts; a key of another size stops the start with a
    sentence naming the file."""
    net.peer(MX1)
    s = net.pigeon()
    path = os.path.join(s.state_dir, "verp.key")
    key = open(path, "rb").read()
    assert len(key) == 32 and os.stat(path).st_mode & 0o777 == 0o600
    s.stop()
    s.start()
    assert open(path, "rb").read() == key
    s.stop()
    with open(path, "wb") as f:
        f.write(b"short")
    with pytest.raises(AssertionError) as e:
        s.start()
    s.proc = None  # it exited, as it should
    assert "verp.key: not a key of 32 bytes" in str(e.value), e.value
